//! The generated bindings of each contract version the host links, made
//! once here and kept private to the runtime; the rest of the host speaks
//! its own types. `v1` is `wit/0.1.0/plugin.wit` (frozen), `v2` is
//! `wit/plugin.wit`.

/// `jobhost:plugin@0.1.0`.
pub(crate) mod v1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "job-plugin",
        imports: { default: trappable },
        exports: { default: async },
    });
}

/// `jobhost:plugin@0.2.0`.
pub(crate) mod v2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "job-plugin",
        imports: { default: trappable },
        exports: { default: async },
    });
}
