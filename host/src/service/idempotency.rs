//! Idempotency keys on creating requests: the same key with the same request
//! within the retention window answers what the first request answered;
//! the same key with another request is refused, and so is a second request
//! while the first is still being served. Keys are scoped to the caller's
//! tenant and token. The first answer is stored before what it created, in
//! the same group commit, so an acknowledged request is always remembered.
//! On a store several hosts share, the key is also held in the store while
//! the request is served, so the same key on another host waits its turn
//! too (and then reads the first answer).

use super::{Service, ServiceError};
use crate::auth::Caller;
use crate::model::now;
use crate::store::{Created, KeyHold, MAX_IDEMPOTENCY_KEY, Remembered};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a key is remembered unless the server says otherwise.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a key; `field` names where it came from in the error.
    pub fn parse(field: &'static str, key: &str) -> Result<Self, ServiceError> {
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(ServiceError::field(
                field,
                format!(
                    "is {} bytes; it must be 1 to {MAX_IDEMPOTENCY_KEY}",
                    key.len()
                ),
            ));
        }
        if !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(ServiceError::field(
                field,
                "may hold only visible ASCII characters (no spaces or control characters)",
            ));
        }
        Ok(IdempotencyKey(key.to_string()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an operation with an idempotency key answered: a fresh result, or
/// the first answer to the same request.
#[derive(Debug)]
pub enum Once<T> {
    /// Done now.
    Fresh(T),
    /// Done before: the first answer.
    Replayed(Remembered),
}

/// A key this request holds while it is served: no other request may use
/// it meanwhile. Released when dropped.
pub(super) struct Claim {
    service: Service,
    slot: Vec<u8>,
    digest: String,
    /// The key held in the store, against requests on other hosts.
    _held: KeyHold,
}

impl Drop for Claim {
    fn drop(&mut self) {
        super::lock(&self.service.inner.in_flight).remove(&self.slot);
    }
}

impl Claim {
    /// Stores the first answer, before what it names is stored.
    pub(super) fn remember(
        &self,
        created: Created,
        status: u16,
        body: Value,
    ) -> Result<(), ServiceError> {
        let ttl = self.service.inner.idempotency_ttl;
        let first = Remembered {
            digest: self.digest.clone(),
            created,
            status,
            body,
            expires_at: now() + ttl,
        };
        Ok(self.service.inner.store.remember(&self.slot, &first)?)
    }
}

/// SHA-256 of an operation's name and its request, with object keys in
/// order (so two spellings of one request are the same request).
pub(super) fn digest(operation: &str, request: &Value) -> String {
    fn canonical(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    canonical(&Value::String(k.clone()), out);
                    out.push(b':');
                    canonical(&map[k], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    canonical(item, out);
                }
                out.push(b']');
            }
            scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
        }
    }
    let mut bytes = operation.as_bytes().to_vec();
    bytes.push(0);
    canonical(request, &mut bytes);
    hex::encode(Sha256::digest(&bytes))
}

impl Service {
    /// Takes `key` for a request whose digest is `digest`: the first answer
    /// when the same request was served under it, a claim when it is free.
    pub(super) fn claim(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        digest: String,
    ) -> Result<Result<Claim, Remembered>, ServiceError> {
        let slot = crate::store::idempotency_slot(&caller.tenant, &caller.token, key.as_str());
        // The key is taken before the store is read (and given back when
        // the claim drops), so no lock is held while the store answers.
        if !super::lock(&self.inner.in_flight).insert(slot.clone()) {
            return Err(ServiceError::IdempotencyKeyInUse {
                key: key.as_str().to_string(),
            });
        }
        let in_use = || ServiceError::IdempotencyKeyInUse {
            key: key.as_str().to_string(),
        };
        let held = match self.inner.store.hold_key(&slot) {
            Ok(Some(held)) => held,
            Ok(None) => {
                super::lock(&self.inner.in_flight).remove(&slot);
                return Err(in_use());
            }
            Err(e) => {
                super::lock(&self.inner.in_flight).remove(&slot);
                return Err(e.into());
            }
        };
        let claim = Claim {
            service: self.clone(),
            slot,
            digest,
            _held: held,
        };
        match self.inner.store.remembered(&claim.slot, now())? {
            Some(first) if first.digest != claim.digest => {
                Err(ServiceError::IdempotencyKeyReused {
                    key: key.as_str().to_string(),
                })
            }
            Some(first) => Ok(Err(first)),
            None => Ok(Ok(claim)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_request_spelled_two_ways_has_one_digest() {
        let a = digest(
            "run",
            &json!({"job_id": "x", "config": {"a": 1, "b": [1, {"d": 2, "c": 3}]}}),
        );
        let b = digest(
            "run",
            &json!({"config": {"b": [1, {"c": 3, "d": 2}], "a": 1}, "job_id": "x"}),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            digest(
                "job",
                &json!({"job_id": "x", "config": {"a": 1, "b": [1, {"d": 2, "c": 3}]}})
            )
        );
        assert_ne!(
            a,
            digest(
                "run",
                &json!({"job_id": "x", "config": {"a": 1, "b": [{"d": 2, "c": 3}, 1]}})
            )
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("k", "order-2026-12-03/1").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"x".repeat(256)] {
            assert!(IdempotencyKey::parse("k", bad).is_err(), "{bad:?}");
        }
    }
}
