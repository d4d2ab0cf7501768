//! Builds the test fixtures in `plugins/fixtures` for `wasm32-wasip2` (only
//! tests and benchmarks depend on this crate, so `cargo run` never builds
//! them) and writes `$OUT_DIR/components.rs`: a path constant per example
//! (built by the host's build script) and per fixture.

use jobhost_guest_build::polyglot;
use std::path::PathBuf;

fn main() {
    let root = jobhost_guest_build::workspace_root(2);
    jobhost_guest_build::rerun_if_changed(
        &root,
        &[
            "plugins/fixtures",
            "plugins/sdk",
            "plugins/lib",
            "wit",
            "Cargo.toml",
            "Cargo.lock",
        ],
    );
    let fixtures = jobhost_guest_build::crate_dirs(&root.join("plugins/fixtures"));
    let examples = jobhost_guest_build::crate_dirs(&root.join("plugins/examples"));
    let mut out = String::new();
    let mut constant = |kind: &str, name: &str, path: PathBuf| {
        out.push_str(&format!(
            "/// The {kind} `{name}`.\npub const {}: &str = {:?};\n",
            name.replace('-', "_").to_uppercase(),
            path.display().to_string()
        ));
    };
    for name in &examples {
        constant(
            "example job type",
            name,
            jobhost_guest_build::component(&root, name),
        );
    }
    for (name, path) in jobhost_guest_build::build_all(&root, &fixtures, "fixtures") {
        constant("test fixture", &name, path);
    }
    // The host's build script built these; they are bundled into it.
    let mut bundled: Vec<PathBuf> = examples
        .iter()
        .map(|name| jobhost_guest_build::component(&root, name))
        .collect();
    for guest in polyglot::all_guests(&root, "examples") {
        let path = polyglot::component(&root, &guest);
        constant("bundled example job type", &guest.name(), path.clone());
        bundled.push(path);
    }
    out.push_str(&format!(
        "/// Every bundled example's component file.\npub const BUNDLED_FILES: &[&str] = &{:?};\n",
        bundled
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    ));
    let file = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(file, out).unwrap();
}
