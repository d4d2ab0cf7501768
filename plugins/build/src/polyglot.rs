//! Builds job types written in Python (`componentize-py`) and JavaScript
//! (`componentize-js`) from a build script, with toolchains pinned in the
//! repository (`plugins/python/toolchain.txt`, `plugins/js/toolchain/`) and
//! installed under `target/toolchains` on first use. A component is rebuilt
//! only when its sources, its SDK, the WIT or the toolchain changed.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

/// A guest's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Python: a directory with `pyproject.toml` and the module named like
    /// the directory (`table-clean` → `table_clean.py`).
    Python,
    /// JavaScript: a directory with `package.json` and `src/job.js`.
    Js,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    fn marker(self) -> &'static str {
        match self {
            Lang::Python => "pyproject.toml",
            Lang::Js => "package.json",
        }
    }
}

/// One guest to build: its language and directory.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Its language.
    pub lang: Lang,
    /// Its directory, e.g. `plugins/python/examples/table-clean`.
    pub dir: PathBuf,
}

impl Guest {
    /// The directory's name with `-` as `_` (the component's file stem).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .expect("a guest directory has a name")
            .to_string_lossy()
            .replace('-', "_")
    }
}

/// The guests of `lang` in `plugins/<lang>/<kind>` (`examples` or
/// `fixtures`), sorted by name.
pub fn guests(root: &Path, lang: Lang, kind: &str) -> Vec<Guest> {
    let base = root.join("plugins").join(lang.dir()).join(kind);
    let Ok(entries) = fs::read_dir(&base) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(lang.marker()).is_file())
        .collect();
    dirs.sort();
    dirs.into_iter().map(|dir| Guest { lang, dir }).collect()
}

/// The Python and JavaScript guests of `kind` (`examples` or `fixtures`).
pub fn all_guests(root: &Path, kind: &str) -> Vec<Guest> {
    let mut out = guests(root, Lang::Python, kind);
    out.extend(guests(root, Lang::Js, kind));
    out
}

/// The component file a guest's build writes.
pub fn component(root: &Path, guest: &Guest) -> PathBuf {
    output_dir(root).join(format!("{}.wasm", guest.name()))
}

/// Where built Python and JavaScript components go.
pub fn output_dir(root: &Path) -> PathBuf {
    root.join("target/plugins/polyglot")
}

/// Asks cargo to rerun the build script when a source file of these guests,
/// their SDKs, the WIT or the toolchain pins change (files, not
/// directories: caches written by test runs must not rebuild the host).
pub fn rerun_if_changed(root: &Path, guests: &[Guest]) {
    let mut dirs: Vec<PathBuf> = guests.iter().map(|g| g.dir.clone()).collect();
    dirs.extend(
        [
            "plugins/python/sdk",
            "plugins/js/sdk",
            "plugins/js/toolchain",
            "wit",
        ]
        .map(|d| root.join(d)),
    );
    dirs.push(root.join("plugins/python/toolchain.txt"));
    for dir in dirs {
        for file in source_files(&dir) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
}

/// Files under `path` (or `path` itself), skipping caches and installed packages.
fn source_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(path) else {
        return out;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            // Caches, installed packages, and what pip writes when a project
            // installs the SDK from the checkout.
            if !matches!(
                name.as_str(),
                "node_modules" | "__pycache__" | ".pytest_cache" | "dist" | "build" | ".venv"
            ) && !name.ends_with(".egg-info")
            {
                out.extend(source_files(&p));
            }
        } else if !name.ends_with(".wasm") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Builds `guests` (each language's toolchain installed first if needed),
/// Python and JavaScript side by side; panics naming the guest and the
/// tool's output if one fails. Returns (name, component path) pairs.
pub fn build(root: &Path, guests: &[Guest]) -> Vec<(String, PathBuf)> {
    if guests.is_empty() {
        return Vec::new();
    }
    let out_dir = output_dir(root);
    fs::create_dir_all(&out_dir).expect("creating target/plugins/polyglot");
    // One build at a time installs toolchains and writes components (the
    // host's and the test support's build scripts may run together).
    let lock = fs::File::create(out_dir.join(".lock")).expect("creating the build lock");
    lock.lock().expect("taking the build lock");
    let by_lang = |lang| guests.iter().filter(move |g| g.lang == lang);
    thread::scope(|s| {
        let handles: Vec<_> = [Lang::Python, Lang::Js]
            .into_iter()
            .filter(|&lang| by_lang(lang).next().is_some())
            .map(|lang| {
                s.spawn(move || {
                    let tool = Toolchain::ensure(root, lang);
                    by_lang(lang)
                        .map(|g| (g.name(), tool.build(root, g)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// An installed, pinned toolchain of one language.
struct Toolchain {
    lang: Lang,
    dir: PathBuf,
    pins: String,
}

impl Toolchain {
    /// Installs the pinned toolchain under `target/toolchains/<lang>` unless
    /// it is there with the same pins.
    fn ensure(root: &Path, lang: Lang) -> Toolchain {
        let dir = root.join("target/toolchains").join(lang.dir());
        let pins = match lang {
            Lang::Python => read(&root.join("plugins/python/toolchain.txt")),
            Lang::Js => read(&root.join("plugins/js/toolchain/package-lock.json")),
        };
        let stamp = dir.join(".installed");
        if fs::read_to_string(&stamp).ok().as_deref() != Some(pins.as_str()) {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("creating target/toolchains");
            match lang {
                Lang::Python => install_python(root, &dir),
                Lang::Js => install_js(root, &dir),
            }
            fs::write(&stamp, &pins).expect("writing the toolchain stamp");
        }
        Toolchain { lang, dir, pins }
    }

    /// Builds one guest unless its component is up to date.
    fn build(&self, root: &Path, guest: &Guest) -> PathBuf {
        let out = component(root, guest);
        let stamp = out.with_extension("stamp");
        let key = self.inputs_key(root, guest);
        if out.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) {
            return out;
        }
        let mut cmd = match self.lang {
            Lang::Python => {
                let mut c = Command::new(self.dir.join("bin/python"));
                c.args(["-m", "jobhost_plugin.build", &guest.name(), "-o"])
                    .arg(&out)
                    .arg("--wit")
                    .arg(root.join("wit"))
                    .env("PYTHONPATH", root.join("plugins/python/sdk"))
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                c
            }
            Lang::Js => {
                let mut c = Command::new("node");
                c.arg(root.join("plugins/js/sdk/build.js"))
                    .arg("src/job.js")
                    .arg("-o")
                    .arg(&out)
                    .arg("--wit")
                    .arg(root.join("wit"))
                    .env("JOBHOST_JS_TOOLCHAIN", &self.dir);
                c
            }
        };
        cmd.current_dir(&guest.dir);
        run(&mut cmd, &format!("building {}", guest.dir.display()));
        fs::write(&stamp, key).expect("writing the component stamp");
        out
    }

    /// A digest of everything the component is made from.
    fn inputs_key(&self, root: &Path, guest: &Guest) -> String {
        let sdk = match self.lang {
            Lang::Python => "plugins/python/sdk",
            Lang::Js => "plugins/js/sdk",
        };
        let mut h = DefaultHasher::new();
        self.pins.hash(&mut h);
        for dir in [guest.dir.clone(), root.join(sdk), root.join("wit")] {
            for file in source_files(&dir) {
                file.strip_prefix(root).unwrap_or(&file).hash(&mut h);
                fs::read(&file).unwrap_or_default().hash(&mut h);
            }
        }
        format!("{:016x}\n", h.finish())
    }
}

fn install_python(root: &Path, dir: &Path) {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let pins = root.join("plugins/python/toolchain.txt");
    println!(
        "cargo:warning=installing the Python toolchain ({}) into {} (first build only)",
        read(&pins)
            .lines()
            .find(|l| !l.starts_with('#'))
            .unwrap_or("")
            .trim(),
        dir.display()
    );
    let missing = format!(
        "building the Python job types needs {python} (3.10 or newer, with venv and pip); \
         on Debian: apt-get install python3 python3-venv (or set PYTHON to one)"
    );
    let mut venv = Command::new(&python);
    venv.args(["-m", "venv"]).arg(dir);
    run_or(&mut venv, &missing);
    let mut pip = Command::new(dir.join("bin/python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
    ])
    .arg(&pins);
    run(
        &mut pip,
        &format!(
            "installing {} from PyPI (the command: {} -m pip install -r {})",
            pins.display(),
            dir.join("bin/python").display(),
            pins.display()
        ),
    );
}

fn install_js(root: &Path, dir: &Path) {
    let pins = root.join("plugins/js/toolchain");
    println!(
        "cargo:warning=installing the JavaScript toolchain (componentize-js, esbuild from \
         {}) into {} (first build only)",
        pins.join("package-lock.json").display(),
        dir.display()
    );
    for file in ["package.json", "package-lock.json"] {
        fs::copy(pins.join(file), dir.join(file)).expect("copying the JS toolchain pins");
    }
    let missing = "building the JavaScript job types needs Node.js 18 or newer with npm; \
                   on Debian: apt-get install nodejs npm";
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir);
    run_or(&mut npm, missing);
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs `cmd`; panics with `what` and the tool's output if it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd`; when it cannot start or fails, panics with `missing` (which
/// names what to install) and the tool's output.
fn run_or(cmd: &mut Command, missing: &str) {
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "{missing}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("{missing} ({e})"),
    }
}
