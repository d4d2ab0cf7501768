//! Request extractors that fail in the API's own error shape: the bearer
//! caller, JSON bodies (with the JSON path of a type error), repeatable query
//! parameters, and UUID path segments.

use super::{ApiError, AppState};
use crate::auth::Caller;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use http::header;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::json;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(ApiError::Unauthorized)?;
        state
            .tokens
            .authenticate(token.trim())
            .ok_or(ApiError::Unauthorized)
    }
}

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let bytes = read(req, state).await?;
        if !is_json {
            return Err(ApiError::bad_request(
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        // Serde reads a struct from a JSON array too, by position: every body
        // here is an object, so anything else is refused before it is read.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the request body must be a JSON object",
                ));
            }
            None => return Err(ApiError::bad_request("the request body is empty")),
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ApiError::BadRequest {
                message: if path == "." {
                    format!("invalid JSON body: {inner}")
                } else {
                    format!("invalid JSON body at `{path}`: {inner}")
                },
                details: json!({"path": path, "line": inner.line(), "column": inner.column()}),
            }
        })?;
        // Only whitespace may follow the object: `{..} xyz` is malformed too.
        de.end().map_err(|e| ApiError::BadRequest {
            message: format!("invalid JSON body: unexpected bytes after the JSON object ({e})"),
            details: json!({"line": e.line(), "column": e.column()}),
        })?;
        Ok(Body(value))
    }
}

/// A body that may be left out: no bytes (or only whitespace) is `None`;
/// anything else must be a valid JSON body of type `T`.
impl<T: DeserializeOwned> OptionalFromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Option<Self>, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read(Request::from_parts(parts.clone(), body), state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        <Body<T> as FromRequest<AppState>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// The request body's bytes, within the body limit.
async fn read(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::PayloadTooLarge {
                limit: state.max_body_bytes,
            }
        }
        other => ApiError::bad_request(format!("could not read the request body: {other}")),
    })
}

/// Query parameters, repeatable (`?statuses=a&statuses=b`).
#[derive(Debug, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

impl QueryPairs {
    /// Fails on any parameter not in `known`, so typos do not pass silently.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::BadRequest {
                message: format!("unknown query parameter `{k}`"),
                details: json!({"parameter": k, "known": known}),
            }),
            None => Ok(()),
        }
    }

    /// Every value of a repeatable parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every value, parsed; the first bad one is a 400 naming the parameter.
    pub fn parse_all<T: std::str::FromStr>(&self, name: &str) -> Result<Vec<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.all(name)
            .into_iter()
            .map(|v| parse_param(name, v))
            .collect()
    }

    /// The single value of a parameter, parsed.
    pub fn one<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [v] => parse_param(name, v).map(Some),
            _ => Err(ApiError::bad_request(format!(
                "query parameter `{name}` may appear only once"
            ))),
        }
    }
}

fn parse_param<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| ApiError::BadRequest {
        message: format!("query parameter `{name}`: `{value}` is invalid: {e}"),
        details: json!({"parameter": name, "value": value}),
    })
}

/// A path segment that must be a UUID.
pub fn parse_id<T: std::str::FromStr>(kind: &'static str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest {
        message: format!("`{raw}` is not a valid {kind} id (a UUID)"),
        details: json!({"id": raw}),
    })
}

/// An RFC 3339 timestamp parameter.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub crate::model::Timestamp);

impl std::str::FromStr for Rfc3339 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(Rfc3339)
            .map_err(|e| {
                format!("expected an RFC 3339 timestamp such as 2026-04-13T10:11:00Z ({e})")
            })
    }
}

/// Reads an optional 32-bit integer that JSON may also write as a whole
/// number with a fraction part (`5.0`): JSON Schema's `integer` admits both.
pub fn whole_i32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let out_of_range = || D::Error::custom(format!("{n} is not a 32-bit integer"));
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).map(Some).map_err(|_| out_of_range());
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&f) => {
            Ok(Some(f as i32))
        }
        _ => Err(out_of_range()),
    }
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`: remove
/// it) or a value (`Some(Some(v))`).
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(d).map(Some)
}
