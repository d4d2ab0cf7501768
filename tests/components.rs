//! Components that attack the host while it loads them, shared by the
//! integration tests and the `attacks` benchmark. Each is a real plugin
//! (it passes every type check) with one more core module appended and
//! instantiated last, so the attack happens during instantiation: before
//! `describe` is ever called.

use wasmtime::wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// A core module whose start function spins forever.
pub const START_LOOP: &str = "(module (func $spin (loop $again (br $again))) (start $spin))";

/// A core module declaring a table of 100 million elements.
pub const HUGE_TABLE: &str = "(module (table 100000000 funcref))";

/// A core module declaring 4 GiB of linear memory up front.
pub const HUGE_MEMORY: &str = "(module (memory 65536))";

/// A component of 16 functions of nested blocks, each just under the 1 MiB
/// function cap: ~10 s of CPU to compile on 2 cores (0.6 s each), where a
/// sound component takes ~0.1 s.
pub fn compile_bomb() -> Vec<u8> {
    let function = format!(
        "(func {})",
        "block i32.const 1 br_if 0 end ".repeat(149_000)
    );
    wat::parse_str(format!("(component (core module {}))", function.repeat(16)))
        .expect("the bomb parses")
}

/// `plugin` (a component) with the core module `wat` appended and
/// instantiated after everything else in it.
pub fn with_core_instance(plugin: &[u8], wat: &str) -> Vec<u8> {
    let module = wat::parse_str(wat).expect("the appended module parses");
    let mut out = plugin.to_vec();
    // Core module section (1): the module's whole binary.
    section(&mut out, 1, &module);
    // Core instance section (2): one `instantiate` of that module, no imports.
    let mut instance = Vec::new();
    leb(&mut instance, 1);
    instance.push(0x00);
    leb(&mut instance, core_modules(plugin));
    leb(&mut instance, 0);
    section(&mut out, 2, &instance);
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(&out)
        .expect("the appended component is valid");
    out
}

/// How many core modules the component's own index space holds.
fn core_modules(component: &[u8]) -> u32 {
    let (mut depth, mut count) = (0u32, 0u32);
    for payload in Parser::new(0).parse_all(component) {
        match payload.expect("the plugin parses") {
            Payload::ModuleSection { .. } => {
                if depth == 0 {
                    count += 1;
                }
                depth += 1;
            }
            Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    count
}

fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    leb(out, content.len() as u32);
    out.extend_from_slice(content);
}

fn leb(out: &mut Vec<u8>, mut n: u32) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
