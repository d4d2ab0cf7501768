//! `jobhost plugin new NAME --lang python|js|ts`: a Python, JavaScript or
//! TypeScript job type project from the templates in `plugins/python/template`,
//! `plugins/js/template` and `plugins/js/template-ts`, depending on the SDK of
//! a jobhost checkout.

use super::{display, fill_ids};
use crate::job_type::JobTypeId;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

const PY_PROJECT: &str = include_str!("../../../plugins/python/template/pyproject.toml.tmpl");
const PY_JOB: &str = include_str!("../../../plugins/python/template/job.py.tmpl");
const PY_TEST: &str = include_str!("../../../plugins/python/template/tests/test_job.py.tmpl");
const JS_PACKAGE: &str = include_str!("../../../plugins/js/template/package.json.tmpl");
const JS_JOB: &str = include_str!("../../../plugins/js/template/src/job.js.tmpl");
const JS_TEST: &str = include_str!("../../../plugins/js/template/test/job.test.js.tmpl");
const TS_PACKAGE: &str = include_str!("../../../plugins/js/template-ts/package.json.tmpl");
const TS_CONFIG: &str = include_str!("../../../plugins/js/template-ts/tsconfig.json.tmpl");
const TS_CONFIG_TYPE: &str = include_str!("../../../plugins/js/template-ts/src/config.ts.tmpl");
const TS_JOB: &str = include_str!("../../../plugins/js/template-ts/src/job.ts.tmpl");
const TS_TEST: &str = include_str!("../../../plugins/js/template-ts/test/job.test.ts.tmpl");

/// A job type's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate (the `jobhost-plugin` crate).
    Rust,
    /// A Python project (`jobhost_plugin`, built with componentize-py).
    Python,
    /// A JavaScript project (`jobhost-plugin`, built with componentize-js).
    Js,
    /// A TypeScript project: the JavaScript SDK, the config schema generated
    /// from a TypeScript type.
    #[value(alias = "typescript")]
    Ts,
}

/// The checkout this binary was built from.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The SDK of `lang` in this binary's checkout.
pub fn default_sdk(lang: Lang) -> PathBuf {
    checkout().join(match lang {
        Lang::Python => "plugins/python/sdk",
        Lang::Js | Lang::Ts => "plugins/js/sdk",
        Lang::Rust => "plugins/sdk",
    })
}

/// Writes a Python, JavaScript or TypeScript project for job type `name` into `dir`,
/// depending on the SDK at `sdk`; refuses to overwrite anything. Returns the
/// SDK's canonical path.
pub fn new_project(name: &str, dir: &Path, lang: Lang, sdk: &Path) -> anyhow::Result<PathBuf> {
    let id = JobTypeId::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    if dir.exists() {
        bail!(
            "{} already exists; choose another name or --dir",
            dir.display()
        );
    }
    let marker = match lang {
        Lang::Python => "jobhost_plugin/__init__.py",
        Lang::Js | Lang::Ts => "package.json",
        Lang::Rust => unreachable!("Rust crates are written by new_plugin"),
    };
    let sdk = sdk
        .canonicalize()
        .ok()
        .filter(|p| p.join(marker).is_file())
        .with_context(|| {
            format!(
                "the {} SDK is not at {}; pass --sdk PATH ({} of a jobhost checkout)",
                if lang == Lang::Python {
                    "Python"
                } else {
                    "JavaScript"
                },
                sdk.display(),
                default_sdk(lang)
                    .strip_prefix(checkout())
                    .unwrap_or(Path::new(""))
                    .display()
            )
        })?;
    let wit = sdk.join("../../../wit");
    let wit = wit.canonicalize().unwrap_or(wit);
    let fill = |t: &str| {
        fill_ids(t, id.as_str())
            .replace("{{display_name}}", &display(id.as_str()))
            .replace("{{sdk}}", &sdk.display().to_string())
            .replace("{{wit}}", &wit.display().to_string())
    };
    let module = id.as_str();
    let files: Vec<(String, &str)> = match lang {
        Lang::Python => vec![
            ("pyproject.toml".into(), PY_PROJECT),
            (format!("{module}.py"), PY_JOB),
            (format!("tests/test_{module}.py"), PY_TEST),
        ],
        Lang::Ts => vec![
            ("package.json".into(), TS_PACKAGE),
            ("tsconfig.json".into(), TS_CONFIG),
            ("src/config.ts".into(), TS_CONFIG_TYPE),
            ("src/job.ts".into(), TS_JOB),
            ("test/job.test.ts".into(), TS_TEST),
        ],
        _ => vec![
            ("package.json".into(), JS_PACKAGE),
            ("src/job.js".into(), JS_JOB),
            ("test/job.test.js".into(), JS_TEST),
        ],
    };
    for (path, template) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&path, fill(template))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(sdk)
}

/// What `plugin new --lang python|js|ts` prints: the next steps.
pub fn next_steps(name: &str, dir: &Path, lang: Lang, sdk: &Path) -> String {
    let dir = dir.display();
    let sdk = sdk.display();
    let publish = format!(
        "  jobhost plugin validate {name}.wasm\n  \
         jobhost plugin publish {name}.wasm --server http://127.0.0.1:8080 --token $TOKEN"
    );
    match lang {
        Lang::Python => format!(
            "created {dir}, depending on the Python SDK at {sdk}\n\nnext:\n  cd {dir}\n  \
             python3 -m venv .venv && . .venv/bin/activate\n  \
             pip install -e .                             # the SDK, componentize-py, pytest\n  \
             python -m pytest                             # the tests, natively\n  \
             python -m jobhost_plugin.build {name} -o {name}.wasm   # the component\n{publish}"
        ),
        Lang::Ts => format!(
            "created {dir}, depending on the JavaScript SDK at {sdk}\n\nnext:\n  cd {dir}\n  \
             npm install                                  # the SDK, TypeScript, componentize-js\n  \
             npm test                                     # schema from src/config.ts, tsc, the tests\n  \
             npm run build                                # the component: {name}.wasm\n{publish}"
        ),
        _ => format!(
            "created {dir}, depending on the JavaScript SDK at {sdk}\n\nnext:\n  cd {dir}\n  \
             npm install                                  # the SDK, componentize-js, esbuild\n  \
             npm test                                     # the tests, natively\n  \
             npm run build                                # the component: {name}.wasm\n{publish}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_filled_project_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let python: &[&str] = &[
            "pyproject.toml",
            "word_count.py",
            "tests/test_word_count.py",
        ];
        let js: &[&str] = &["package.json", "src/job.js", "test/job.test.js"];
        let ts: &[&str] = &[
            "package.json",
            "src/config.ts",
            "src/job.ts",
            "test/job.test.ts",
        ];
        for (lang, files) in [(Lang::Python, python), (Lang::Js, js), (Lang::Ts, ts)] {
            let dir = tmp.path().join(format!("{lang:?}"));
            let sdk = new_project("word_count", &dir, lang, &default_sdk(lang)).unwrap();
            assert!(sdk.is_absolute(), "{}", sdk.display());
            for file in files {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(!text.contains("{{"), "{file}: every placeholder is filled");
                assert!(
                    text.contains("word_count") || text.contains("word-count"),
                    "{file}"
                );
            }
            if lang == Lang::Ts {
                assert!(dir.join("tsconfig.json").is_file());
            }
            let e = new_project("word_count", &dir, lang, &default_sdk(lang)).unwrap_err();
            assert!(e.to_string().contains("already exists"), "{e}");
        }
    }
}
