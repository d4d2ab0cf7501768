//! The API in-process: a server built exactly as `jobhost serve` builds it
//! (from the same command line, with its own data directory and tokens),
//! answering requests through `Router::oneshot`, with no socket and no child
//! process. For request validation and the error shape; crash, signal,
//! lease and listener behaviour keep real processes (`server.rs`).

use crate::server::{Api, Reply};
use http_body_util::BodyExt as _;
use jobhost::auth::Role;
use jobhost::server::Host;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt as _;

/// A built server without a listener. Shut down (workers stopped, store
/// flushed) when dropped.
pub struct App {
    inner: Arc<InProcess>,
    host: Option<Host>,
    _dir: tempfile::TempDir,
    /// A user of tenant acme.
    pub user: String,
    /// An agent of tenant acme.
    pub agent: String,
    /// An admin of tenant globex.
    pub other_tenant: String,
}

/// What an in-process [`Api`] sends its requests to.
pub struct InProcess {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
}

impl App {
    /// Builds a server on a fresh data directory, with `serve` flags (two
    /// workers unless they say otherwise).
    pub fn start(flags: &[&str]) -> App {
        App::start_with(&[], flags)
    }

    /// [`App::start`] with copies of these components in its plugins directory.
    pub fn start_with(plugins: &[&str], flags: &[&str]) -> App {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap().to_string();
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins_dir).unwrap();
        for (i, plugin) in plugins.iter().enumerate() {
            std::fs::copy(plugin, plugins_dir.join(format!("{i}.wasm"))).unwrap();
        }
        let mut args = vec!["jobhost", "--data-dir", &data, "serve"];
        if !flags.contains(&"--workers") {
            args.extend(["--workers", "2"]);
        }
        args.extend(flags);
        let mut config = jobhost::cli::serve_config(args).expect("a valid command line");
        config.compile_program = Some(env!("CARGO_BIN_EXE_jobhost").into());
        let tokens = dir.path().join("tokens.json");
        let token = |user: &str, tenant: &str, role: Role| {
            jobhost::auth::file::create(&tokens, user, tenant, role)
                .unwrap()
                .0
        };
        let user = token("user@example.com", "acme", Role::User);
        let agent = token("agent@example.com", "acme", Role::Agent);
        let other_tenant = token("eve@example.com", "globex", Role::Admin);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        jobhost_test_support::artifacts::seed(dir.path());
        let host = rt.block_on(Host::build(config)).expect("the server builds");
        jobhost_test_support::artifacts::keep(dir.path());
        let router = host.router();
        App {
            inner: Arc::new(InProcess { rt, router }),
            host: Some(host),
            _dir: dir,
            user,
            agent,
            other_tenant,
        }
    }

    /// A client with `token` (none when empty).
    pub fn api(&self, token: &str) -> Api {
        Api::in_process(self.inner.clone(), token)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(host) = self.host.take() {
            // Every router clone must go before the workers can stop.
            let router = std::mem::replace(
                &mut Arc::get_mut(&mut self.inner)
                    .expect("no client outlives its app")
                    .router,
                axum::Router::new(),
            );
            drop(router);
            let _ = self.inner.rt.block_on(host.shutdown());
        }
    }
}

impl InProcess {
    /// Sends one request; `body` with its content type, and extra headers.
    pub fn send(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = http::Request::builder()
            .method(method.to_ascii_uppercase().as_str())
            .uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some((content_type, bytes)) => request
                .header("content-type", content_type)
                .body(axum::body::Body::from(bytes)),
            None => request.body(axum::body::Body::empty()),
        }
        .unwrap();
        let router = self.router.clone();
        self.rt.block_on(async move {
            let response = router.oneshot(request).await.expect("infallible");
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                },
            }
        })
    }
}
