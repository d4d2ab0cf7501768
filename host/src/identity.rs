//! This host's id among the hosts sharing a store: 12 hex digits kept in
//! `DATA_DIR/host-id`, made at the first start. Its workers hold leases as
//! `<id>/<worker>`, so a host started again on its data directory knows
//! the runs it held before a crash as its own and takes them back at once
//! instead of waiting for their leases to lapse. (On PostgreSQL a host
//! holds an advisory lock on its id while it serves, so two hosts with one
//! id, from a copied data directory, cannot both serve.)

use std::path::Path;

/// The file the id is kept in, in the data directory.
pub const HOST_ID_FILE: &str = "host-id";

/// A host's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostId(String);

impl HostId {
    /// The id kept in `data_dir`, made (and kept) if there is none.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<HostId> {
        let path = data_dir.join(HOST_ID_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim();
                if id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Ok(HostId(id.to_ascii_lowercase()));
                }
                Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} does not hold a host id (12 hex digits); remove it to make a new one",
                        path.display()
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                crate::durable::write_atomically(&path, &[id.as_bytes(), b"\n"], 0o644)?;
                Ok(HostId(id))
            }
            Err(e) => Err(e),
        }
    }

    /// A fresh id kept nowhere (tests, embedded pools).
    pub fn random() -> HostId {
        HostId(uuid::Uuid::new_v4().simple().to_string()[..12].to_string())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a lease holder (`<id>/<worker>`) is one of this host's
    /// workers.
    pub fn holds(&self, holder: &str) -> bool {
        holder
            .strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = HostId::load_or_create(dir.path()).unwrap();
        assert_eq!(HostId::load_or_create(dir.path()).unwrap(), first);
        assert!(first.holds(&format!("{first}/3")));
        assert!(!first.holds(&format!("{first}x/3")));
        assert!(!HostId::random().holds(&format!("{first}/0")));
        std::fs::write(dir.path().join(HOST_ID_FILE), "not an id").unwrap();
        let e = HostId::load_or_create(dir.path()).unwrap_err();
        assert!(e.to_string().contains("remove it"), "{e}");
    }
}
