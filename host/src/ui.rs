//! The web UI at `/ui`: a few static files embedded in the binary (no build
//! step, nothing fetched from elsewhere), served with a Content-Security-
//! Policy that allows only this server's own scripts, styles and API. The
//! pages call the REST API with the bearer token the user signed in with.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

/// Only this origin's scripts, styles and API; no inline script or style,
/// no frames, no forms posting elsewhere, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Every file, by name under `/ui/`, with its media type.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../ui/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../ui/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/dom.js"),
    ),
    (
        "form.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/form.js"),
    ),
    (
        "catalog.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/catalog.js"),
    ),
    (
        "jobs.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/jobs.js"),
    ),
    (
        "runs.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/runs.js"),
    ),
    (
        "plugins.js",
        "text/javascript; charset=utf-8",
        include_str!("../ui/plugins.js"),
    ),
];

/// The `/ui` routes.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route(
            "/ui/{name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    let Some((_, media_type, body)) = FILES.iter().find(|(n, ..)| *n == name) else {
        return crate::api::ApiError::NotFound {
            kind: "file",
            id: format!("/ui/{}", name.chars().take(100).collect::<String>()),
        }
        .into_response();
    };
    let mut response = (StatusCode::OK, *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Small files that change with the binary: revalidate each load.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
