//! Builds the guest components in `plugins/` for `wasm32-wasip2` and tells the
//! host where they are: `JOBHOST_WASM_<NAME>` (a path per plugin) and
//! `$OUT_DIR/bundled.rs` (the example job types embedded in the binary).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    for watched in ["plugins", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let examples = crate_dirs(&root.join("plugins/examples"));
    let fixtures = crate_dirs(&root.join("plugins/fixtures"));
    ensure_target();

    let target_dir = root.join("target").join("plugins");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for name in examples.iter().chain(&fixtures) {
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
        "building the plugins in plugins/ for {TARGET} failed"
    );

    let out_dir = target_dir.join(TARGET).join(PROFILE);
    let mut bundled = String::from(
        "/// The example job types shipped inside the binary: (file name, component bytes).\n\
         pub const BUNDLED: &[(&str, &[u8])] = &[\n",
    );
    for name in examples.iter().chain(&fixtures) {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let path = out_dir.join(&file);
        assert!(path.exists(), "{} was not built", path.display());
        let var = format!("JOBHOST_WASM_{}", name.replace('-', "_").to_uppercase());
        println!("cargo:rustc-env={var}={}", path.display());
        if examples.contains(name) {
            bundled.push_str(&format!(
                "    ({file:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
    }
    bundled.push_str("];\n");
    let generated = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bundled.rs");
    fs::write(generated, bundled).unwrap();
}

/// Names of the crates directly below `dir`, sorted.
fn crate_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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
