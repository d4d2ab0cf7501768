//! Builds the example job types for `wasm32-wasip2` and embeds them:
//! `$OUT_DIR/bundled.rs` lists each one's file name and bytes. The Rust ones
//! are the crates in `plugins/examples`; the Python and JavaScript ones are
//! in `plugins/python/examples` and `plugins/js/examples`, built with their
//! pinned toolchains (installed under `target/toolchains` when missing). The
//! test fixtures are built by the test support crate, only for tests.

use std::path::PathBuf;

fn main() {
    let root = jobhost_guest_build::workspace_root(1);
    jobhost_guest_build::rerun_if_changed(
        &root,
        &[
            "plugins/examples",
            "plugins/sdk",
            "plugins/lib",
            "wit",
            "Cargo.toml",
            "Cargo.lock",
        ],
    );
    let examples = jobhost_guest_build::crate_dirs(&root.join("plugins/examples"));
    let mut bundled = String::from(
        "/// The example job types shipped inside the binary: (file name, component bytes).\n\
         pub const BUNDLED: &[(&str, &[u8])] = &[\n",
    );
    for (_, path) in jobhost_guest_build::build_all(&root, &examples, "examples") {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        bundled.push_str(&format!(
            "    ({file:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    bundled.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bundled.rs");
    std::fs::write(out, bundled).unwrap();
}
