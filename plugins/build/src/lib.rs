//! Builds guest crates of this workspace (job type plugins) for
//! `wasm32-wasip2` from a build script: the host's, which embeds the example
//! job types, and the test support crate's, which builds the test fixtures
//! only when tests are built. Guests go to their own target directory,
//! `target/plugins`, with the `plugin` profile.

pub mod polyglot;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guests' target.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile guests are built with (see the workspace manifest).
pub const PROFILE: &str = "plugin";

/// The workspace root, from a build script of a crate `depth` directories
/// below it.
pub fn workspace_root(depth: usize) -> PathBuf {
    let mut dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("run from a build script"));
    for _ in 0..depth {
        dir.pop();
    }
    dir
}

/// Where the built `.wasm` files of the workspace at `root` are.
pub fn output_dir(root: &Path) -> PathBuf {
    root.join("target/plugins").join(TARGET).join(PROFILE)
}

/// The component file of guest crate `name`.
pub fn component(root: &Path, name: &str) -> PathBuf {
    output_dir(root).join(format!("{}.wasm", name.replace('-', "_")))
}

/// Names of the crates directly below `dir`, sorted.
pub fn crate_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asks cargo to rerun the build script when `paths` (relative to `root`)
/// change.
pub fn rerun_if_changed(root: &Path, paths: &[&str]) {
    for p in paths {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
}

/// Builds the guest crates `names` of the workspace at `root`; panics with
/// cargo's reason if that fails. Returns each crate's component path.
pub fn build(root: &Path, names: &[String]) -> Vec<(String, PathBuf)> {
    ensure_target();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(root.join("target/plugins"));
    for name in names {
        cmd.args(["-p", name]);
    }
    // The outer build's flags and wrappers (clippy, coverage) are not for guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("failed to start cargo to build the plugins");
    assert!(
        status.success(),
        "building {} for {TARGET} failed",
        names.join(", ")
    );
    names
        .iter()
        .map(|name| {
            let path = component(root, name);
            assert!(path.exists(), "{} was not built", path.display());
            (name.clone(), path)
        })
        .collect()
}

/// Builds the guest crates `crates` and the Python and JavaScript guests of
/// `kind` (`examples` or `fixtures`), the latter (mostly waiting on their
/// tools) while cargo builds the former; asks cargo to rerun when the
/// polyglot guests' sources change. Returns every (name, component path).
pub fn build_all(root: &Path, crates: &[String], kind: &str) -> Vec<(String, PathBuf)> {
    let guests = polyglot::all_guests(root, kind);
    polyglot::rerun_if_changed(root, &guests);
    std::thread::scope(|s| {
        let other = s.spawn(|| polyglot::build(root, &guests));
        let mut all = build(root, crates);
        all.extend(
            other
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        );
        all
    })
}

/// Installs the guest target with rustup when the toolchain lacks it.
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.is_some_and(|d| d.exists()) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .expect("the wasm32-wasip2 target is missing and rustup could not be started");
    assert!(status.success(), "`rustup target add {TARGET}` failed");
}
