//! Typed ids. Job and run ids are UUIDv7, so their byte order is their
//! creation order: storage keys sort by age and time ranges become key ranges.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            /// The 16 bytes used in storage keys.
            pub fn bytes(&self) -> [u8; 16] {
                *self.0.as_bytes()
            }

            /// From storage key bytes.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                Uuid::from_slice(b).ok().map($name)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

uuid_id!(
    /// Id of a job.
    JobId
);
uuid_id!(
    /// Id of a job run.
    RunId
);

/// A tenant: every record belongs to exactly one, and no request sees another's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub String);

impl TenantId {
    /// A tenant name for a new token: 1 to 64 letters, digits, `_`, `-` or `.`.
    pub fn parse(name: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(TenantId(name.to_string()))
        } else {
            Err(format!(
                "tenant `{}` is invalid: use 1 to 64 letters, digits, `_`, `-` or `.`",
                name.chars().take(80).collect::<String>()
            ))
        }
    }

    /// Storage key prefix: the name's length, then the name, so that no
    /// tenant's prefix is a prefix of another's.
    pub fn key_prefix(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.0.len() + 2);
        k.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        k.extend_from_slice(self.0.as_bytes());
        k
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation() {
        let a = RunId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = RunId::new();
        assert!(a.bytes() < b.bytes());
    }

    #[test]
    fn tenant_prefixes_do_not_nest() {
        let a = TenantId("ab".into()).key_prefix();
        let b = TenantId("abc".into()).key_prefix();
        assert!(!b.starts_with(&a) && !a.starts_with(&b));
    }
}
