//! Builds the test fixtures in `plugins/fixtures` for `wasm32-wasip2` (only
//! tests and benchmarks depend on this crate, so `cargo run` never builds
//! them) and writes `$OUT_DIR/components.rs`: a path constant per example
//! (built by the host's build script) and per fixture.

use jobhost_guest_build::polyglot::{self, Lang};
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
    let mut polyglot = polyglot::guests(&root, Lang::Python, "fixtures");
    polyglot.extend(polyglot::guests(&root, Lang::Js, "fixtures"));
    polyglot::rerun_if_changed(&root, &polyglot);
    let (rust, other) = std::thread::scope(|s| {
        let other = s.spawn(|| polyglot::build(&root, &polyglot));
        let rust = jobhost_guest_build::build(&root, &fixtures);
        (
            rust,
            other
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        )
    });
    for (name, path) in rust.into_iter().chain(other) {
        constant("test fixture", &name, path);
    }
    // The host's build script built these; they are bundled into it.
    let mut bundled: Vec<PathBuf> = examples
        .iter()
        .map(|name| jobhost_guest_build::component(&root, name))
        .collect();
    for lang in [Lang::Python, Lang::Js] {
        for guest in polyglot::guests(&root, lang, "examples") {
            let path = polyglot::output_dir(&root).join(format!("{}.wasm", guest.name()));
            constant("bundled example job type", &guest.name(), path.clone());
            bundled.push(path);
        }
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
