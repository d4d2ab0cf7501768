//! The generated bindings of `wit/plugin.wit`, made once here and kept
//! private to the runtime; the rest of the host speaks its own types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "job-plugin",
    imports: { default: trappable },
    exports: { default: async },
});
