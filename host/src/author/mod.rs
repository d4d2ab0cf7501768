//! Commands for plugin authors: `jobhost plugin new NAME` writes a ready
//! plugin crate from the template in `plugins/template/` (with `--lang
//! python|js|ts` a Python, JavaScript or TypeScript project), and
//! `jobhost plugin publish FILE` uploads a component to a running server.

mod polyglot;

pub use polyglot::{Lang, default_sdk as default_sdk_of, new_project, next_steps as next_steps_of};

use crate::job_type::JobTypeId;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("../../../plugins/template/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../../plugins/template/src/lib.rs.tmpl");
const EXAMPLE_CONFIG: &str = include_str!("../../../plugins/template/example-config.json.tmpl");
const LIB_RS_HTTP: &str = include_str!("../../../plugins/template/src/lib_http.rs.tmpl");
const EXAMPLE_CONFIG_HTTP: &str =
    include_str!("../../../plugins/template/example-config-http.json.tmpl");

/// Where the guest SDK of this source tree is.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

/// Where a new plugin crate gets the guest SDK (`jobhost-plugin`) from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A directory: `plugins/sdk` of a jobhost checkout.
    Path(PathBuf),
    /// A git repository holding jobhost, at a revision (branch, tag or
    /// commit) or its default branch.
    Git {
        /// The repository's URL.
        url: String,
        /// What to check out; the default branch when `None`.
        rev: Option<String>,
    },
}

impl SdkSource {
    /// The dependency as `Cargo.toml` writes it, with a path made absolute.
    fn dependency(&self) -> anyhow::Result<String> {
        Ok(match self {
            SdkSource::Path(path) => {
                let path = path.canonicalize().with_context(|| {
                    format!(
                        "the guest SDK is not at {}; pass --sdk PATH (the plugins/sdk directory of \
                         a jobhost checkout) or --sdk-git URL",
                        path.display()
                    )
                })?;
                if !path.join("Cargo.toml").is_file() {
                    bail!(
                        "{} has no Cargo.toml; --sdk takes the plugins/sdk directory of a jobhost \
                         checkout",
                        path.display()
                    );
                }
                format!("{{ path = {:?} }}", path.display().to_string())
            }
            SdkSource::Git { url, rev } => match rev {
                Some(rev) => format!("{{ git = {url:?}, rev = {rev:?} }}"),
                None => format!("{{ git = {url:?} }}"),
            },
        })
    }

    /// The SDK this binary was built with, if its source tree is still there.
    pub fn built_with() -> SdkSource {
        SdkSource::Path(default_sdk())
    }
}

impl std::fmt::Display for SdkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdkSource::Path(p) => write!(f, "the SDK at {}", p.display()),
            SdkSource::Git {
                url,
                rev: Some(rev),
            } => write!(f, "the SDK from {url} at {rev}"),
            SdkSource::Git { url, rev: None } => {
                write!(f, "the SDK from {url} (its default branch)")
            }
        }
    }
}

/// `word_count` → `WordCount`.
fn camel(id: &str) -> String {
    id.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Fills a template's `{{crate}}` (`word-count`) and `{{job_type}}`.
fn fill_ids(template: &str, id: &str) -> String {
    template
        .replace("{{crate}}", &id.replace('_', "-"))
        .replace("{{job_type}}", id)
}

/// `word_count` → `Word count`.
fn display(id: &str) -> String {
    let words = id.replace('_', " ");
    let mut c = words.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Writes a new plugin crate for job type `name` into `dir` (default
/// `./NAME`); refuses to overwrite anything. Returns the directory.
pub fn new_plugin(
    name: &str,
    dir: Option<PathBuf>,
    sdk: &SdkSource,
    http: bool,
) -> anyhow::Result<PathBuf> {
    let id = JobTypeId::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!(
            "{} already exists; choose another name or --dir",
            dir.display()
        );
    }
    let sdk = sdk.dependency()?;
    let fill = |t: &str| {
        fill_ids(t, id.as_str())
            .replace("{{struct}}", &camel(id.as_str()))
            .replace("{{display_name}}", &display(id.as_str()))
            .replace("{{sdk_dependency}}", &sdk)
    };
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let (lib, example) = if http {
        (LIB_RS_HTTP, EXAMPLE_CONFIG_HTTP)
    } else {
        (LIB_RS, EXAMPLE_CONFIG)
    };
    for (path, template) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", lib),
        ("example-config.json", example),
    ] {
        std::fs::write(dir.join(path), fill(template))
            .with_context(|| format!("writing {}", dir.join(path).display()))?;
    }
    Ok(dir)
}

/// What `plugin new` prints: where the SDK comes from, and the next steps.
pub fn next_steps(name: &str, dir: &Path, sdk: &SdkSource) -> String {
    format!(
        "created {dir}, depending on {sdk}\n\nnext:\n  cd {dir}\n  cargo test                                   # the unit test, natively\n  \
         cargo build --release --target wasm32-wasip2  # the component\n  \
         jobhost plugin validate target/wasm32-wasip2/release/{name}.wasm\n  \
         jobhost plugin publish target/wasm32-wasip2/release/{name}.wasm --server http://127.0.0.1:8080 --token $TOKEN",
        dir = dir.display()
    )
}

/// Uploads a component to `server` (`http://host:port`); prints what the
/// server answered. Errors carry the server's message.
pub fn publish(file: &Path, server: &str, token: &str) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let url = format!("{}/api/v1/plugins", server.trim_end_matches('/'));
    let response = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()?
        .post(&url)
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .with_context(|| format!("sending the component to {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .with_context(|| format!("reading the answer of {url} ({status})"))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        bail!("{url} answered {status}: {message}");
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_job_type_id() {
        assert_eq!(camel("word_count"), "WordCount");
        assert_eq!(camel("x"), "X");
        assert_eq!(display("word_count"), "Word count");
    }

    #[test]
    fn refuses_bad_ids_and_existing_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let sdk = SdkSource::built_with();
        let e = new_plugin("Bad-Name", Some(tmp.path().join("a")), &sdk, false).unwrap_err();
        assert!(e.to_string().contains("invalid"), "{e}");
        let e = new_plugin("ok_name", Some(tmp.path().to_path_buf()), &sdk, false).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        let dir = new_plugin("ok_name", Some(tmp.path().join("ok")), &sdk, false).unwrap();
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct OkName;") && lib.contains("\"ok_name\""));
        assert!(!lib.contains("{{"), "every placeholder is filled");
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("jobhost-plugin = { path = \""),
            "{manifest}"
        );
    }

    #[test]
    fn the_sdk_comes_from_a_path_or_a_git_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let git = SdkSource::Git {
            url: "https://git.example.com/jobhost.git".into(),
            rev: Some("v0.1.0".into()),
        };
        let dir = new_plugin("from_git", Some(tmp.path().join("g")), &git, false).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(
                r#"jobhost-plugin = { git = "https://git.example.com/jobhost.git", rev = "v0.1.0" }"#
            ),
            "{manifest}"
        );
        assert!(
            next_steps("from_git", &dir, &git)
                .contains("the SDK from https://git.example.com/jobhost.git at v0.1.0")
        );
        let nowhere = SdkSource::Path(tmp.path().join("no-sdk-here"));
        let e = new_plugin("lost", Some(tmp.path().join("l")), &nowhere, false).unwrap_err();
        assert!(e.to_string().contains("--sdk-git URL"), "{e}");
        assert!(!tmp.path().join("l").exists(), "nothing is written");
    }
}
