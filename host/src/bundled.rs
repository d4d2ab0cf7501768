//! The example job types compiled into the binary from `plugins/examples`.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
