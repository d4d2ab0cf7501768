//! Code-shape caps checked before compiling: Cranelift's time and memory grow
//! with the code it is given, and faster than linearly with the size of one
//! function, so a small hostile component (a "compile bomb") could hold a
//! core for minutes. These caps bound that work; a component over any of
//! them is refused with the figure that broke it, before compilation.

use super::compile::CompileError;
use wasmtime::wasmparser::{Parser, Payload};

/// Caps on the code of one component, across all its core modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeCaps {
    /// Functions with a body.
    pub max_functions: u32,
    /// Bytes of the largest function body.
    pub max_function_bytes: usize,
    /// Bytes of all function bodies.
    pub max_code_bytes: usize,
    /// Core modules nested in the component.
    pub max_modules: u32,
}

impl Default for CodeCaps {
    fn default() -> Self {
        CodeCaps {
            max_functions: 100_000,
            // CPython's interpreter loop is ~430 KB of wasm (componentize-py
            // 0.25); Python and JavaScript components carry 6.5 and 9.2 MB of
            // code (the component size cap, 32 MiB by default, binds first).
            max_function_bytes: 2 << 20,
            max_code_bytes: 40 << 20,
            max_modules: 64,
        }
    }
}

/// What the scan measured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CodeShape {
    /// Functions with a body.
    pub functions: u32,
    /// Bytes of the largest function body.
    pub largest_function_bytes: usize,
    /// Bytes of all function bodies.
    pub code_bytes: usize,
    /// Core modules.
    pub modules: u32,
}

fn over(what: &str, found: usize, max: usize) -> CompileError {
    CompileError::OverCodeCap(format!(
        "{what} is {found}; the most accepted is {max} (a cap that bounds compilation)"
    ))
}

/// Measures a component's code and checks it against `caps`. Stops at the
/// first cap broken; parse errors are left to the compiler to report.
pub fn check(bytes: &[u8], caps: &CodeCaps) -> Result<CodeShape, CompileError> {
    let mut shape = CodeShape::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            break;
        };
        match payload {
            Payload::ModuleSection { .. } => {
                shape.modules += 1;
                if shape.modules > caps.max_modules {
                    return Err(over(
                        "the number of core modules",
                        shape.modules as usize,
                        caps.max_modules as usize,
                    ));
                }
            }
            Payload::CodeSectionStart { count, .. } => {
                shape.functions = shape.functions.saturating_add(count);
                if shape.functions > caps.max_functions {
                    return Err(over(
                        "the number of functions",
                        shape.functions as usize,
                        caps.max_functions as usize,
                    ));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len();
                shape.largest_function_bytes = shape.largest_function_bytes.max(size);
                shape.code_bytes += size;
                if size > caps.max_function_bytes {
                    return Err(over(
                        "the largest function body, in bytes,",
                        size,
                        caps.max_function_bytes,
                    ));
                }
                if shape.code_bytes > caps.max_code_bytes {
                    return Err(over(
                        "the code size, in bytes,",
                        shape.code_bytes,
                        caps.max_code_bytes,
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component_with_function_of(instructions: usize) -> Vec<u8> {
        let body = "i32.const 1 drop ".repeat(instructions);
        wat::parse_str(format!(
            "(component (core module (func {body})) (core module (func nop) (func nop)))"
        ))
        .unwrap()
    }

    #[test]
    fn measures_every_nested_module() {
        let shape = check(&component_with_function_of(10), &CodeCaps::default()).unwrap();
        assert_eq!(shape.modules, 2);
        assert_eq!(shape.functions, 3);
        assert!(shape.largest_function_bytes >= 30, "{shape:?}");
    }

    #[test]
    fn the_bundled_job_types_fit_well_inside_the_default_caps() {
        let caps = CodeCaps::default();
        for (name, bytes) in crate::bundled::BUNDLED {
            let shape = check(bytes, &caps).unwrap();
            assert!(
                shape.largest_function_bytes * 4 < caps.max_function_bytes
                    && shape.code_bytes * 4 < caps.max_code_bytes,
                "{name}: {shape:?}"
            );
        }
    }

    #[test]
    fn refuses_what_breaks_a_cap_naming_the_figure() {
        let bytes = component_with_function_of(1000);
        let caps = CodeCaps {
            max_function_bytes: 1000,
            ..CodeCaps::default()
        };
        let e = check(&bytes, &caps).unwrap_err().to_string();
        assert!(
            e.contains("largest function body") && e.contains("1000"),
            "{e}"
        );
        let caps = CodeCaps {
            max_functions: 2,
            ..CodeCaps::default()
        };
        let e = check(&bytes, &caps).unwrap_err().to_string();
        assert!(e.contains("number of functions is 3"), "{e}");
    }
}
