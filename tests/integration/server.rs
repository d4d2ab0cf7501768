//! A real `jobhost serve` process on 127.0.0.1 with a temporary data
//! directory and known tokens, and a small HTTP client for it.

use crate::app::InProcess;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running server. Killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    _dir: Option<tempfile::TempDir>,
    /// Operator of the host (tenant acme): manages job types, reads `/metrics`.
    pub operator: String,
    /// Admin of tenant acme.
    pub admin: String,
    pub user: String,
    pub agent: String,
    pub other_tenant: String,
}

const JOBHOST: &str = env!("CARGO_BIN_EXE_jobhost");

/// With `JOBHOST_TEST_BACKEND=postgres`, servers store in PostgreSQL: a
/// database of their own in one cluster per test process (stopped when the
/// process exits), named in the data directory so a restarted server finds
/// it again.
fn test_database(data: &Path) -> Option<String> {
    use jobhost_test_support::postgres::Postgres;
    static CLUSTER: std::sync::Mutex<Option<Postgres>> = std::sync::Mutex::new(None);
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    extern "C" fn stop_cluster() {
        if let Ok(mut cluster) = CLUSTER.lock() {
            drop(cluster.take());
        }
    }
    if std::env::var("JOBHOST_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    let named = data.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&named) {
        return Some(url);
    }
    let mut cluster = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    if cluster.is_none() {
        let started = Postgres::start()
            .unwrap_or_else(|why| panic!("JOBHOST_TEST_BACKEND=postgres needs {why}"));
        *cluster = Some(started);
        // SAFETY: registers a plain function with no captured state.
        unsafe { libc::atexit(stop_cluster) };
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let url = cluster
        .as_ref()
        .expect("started above")
        .create_database(&format!("test_{n}"))
        .unwrap();
    std::fs::write(&named, &url).unwrap();
    Some(url)
}

fn token(data: &Path, user: &str, tenant: &str, role: &str) -> String {
    jobhost_test_support::process::token(JOBHOST, data, user, tenant, role)
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server on a fresh data directory whose plugins directory
    /// holds copies of these components.
    pub fn start_with(plugins: &[&str]) -> Server {
        Server::start_args(plugins, &[])
    }

    /// Like [`Server::start_with`], with extra `serve` arguments.
    pub fn start_args(plugins: &[&str], extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_path_buf();
        std::fs::create_dir_all(data.join("plugins")).unwrap();
        for (i, plugin) in plugins.iter().enumerate() {
            std::fs::copy(plugin, data.join(format!("plugins/{i}.wasm"))).unwrap();
        }
        let operator = token(&data, "ops@example.com", "acme", "operator");
        let admin = token(&data, "admin@example.com", "acme", "admin");
        let user = token(&data, "user@example.com", "acme", "user");
        let agent = token(&data, "agent@example.com", "acme", "agent");
        let other_tenant = token(&data, "eve@example.com", "globex", "admin");
        let mut s = Server::spawn(&data, extra);
        s._dir = Some(dir);
        (s.operator, s.admin, s.user) = (operator, admin, user);
        (s.agent, s.other_tenant) = (agent, other_tenant);
        s
    }

    /// Starts a server on an existing data directory (tokens are read from it).
    pub fn spawn(data: &Path, extra: &[&str]) -> Server {
        Server::spawn_env(data, extra, &[])
    }

    /// [`Server::spawn`] with extra environment variables.
    pub fn spawn_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--plugins-dir".into(),
            data.join("plugins").into_os_string(),
        ];
        if !extra.contains(&"--workers") {
            args.extend(["--workers".into(), "2".into()]);
        }
        args.extend(extra.iter().map(Into::into));
        if !extra.contains(&"--database")
            && let Some(url) = test_database(data)
        {
            args.extend(["--database".into(), url.into()]);
        }
        let jobhost_test_support::process::Listening { child, base, .. } =
            jobhost_test_support::process::serve_env(JOBHOST, data, args, Stdio::inherit(), env);
        Server {
            child,
            base,
            _dir: None,
            operator: String::new(),
            admin: String::new(),
            user: String::new(),
            agent: String::new(),
            other_tenant: String::new(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and wait.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        self._dir
            .as_ref()
            .expect("a server with its own data directory")
            .path()
    }

    /// Keeps the data directory after this server is gone.
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }

    pub fn api(&self, token: &str) -> Api {
        Api {
            client: Client::new(),
            base: format!("{}/api/v1", self.base),
            token: token.to_string(),
            app: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An authenticated client, over HTTP to a [`Server`] or in-process to an
/// [`App`](crate::app::App).
pub struct Api {
    pub client: Client,
    pub base: String,
    pub token: String,
    /// Set for an in-process client: requests go to its router.
    pub app: Option<Arc<InProcess>>,
}

/// Status, headers and JSON body (Null when empty).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn reply(r: Response) -> Reply {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl Api {
    /// An in-process client of `app`'s router.
    pub fn in_process(app: Arc<InProcess>, token: &str) -> Api {
        Api {
            client: Client::new(),
            base: "/api/v1".into(),
            token: token.to_string(),
            app: Some(app),
        }
    }

    /// One request to `path` (below `/api/v1`); `body` with its content type.
    pub fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        self.try_send(method, path, body, &[]).unwrap()
    }

    /// One request with extra headers; `Err` when no answer came (the
    /// connection failed or closed).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base);
        if let Some(app) = &self.app {
            return Ok(app.send(method, &url, &self.token, body, headers));
        }
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut request = self.client.request(method, url).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        request.send().map(reply).map_err(|e| e.to_string())
    }

    /// POSTs JSON with extra headers.
    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        self.try_send("post", path, Api::json(body), headers)
            .unwrap()
    }

    fn json(value: &Value) -> Option<(&'static str, Vec<u8>)> {
        Some(("application/json", serde_json::to_vec(value).unwrap()))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("get", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("post", path, Api::json(body))
    }
    /// POSTs raw bytes with a content type.
    pub fn post_bytes(&self, path: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
        self.send("post", path, Some((content_type, bytes)))
    }
    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("put", path, Api::json(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send("patch", path, Api::json(body))
    }
    pub fn delete(&self, path: &str) -> Reply {
        self.send("delete", path, None)
    }

    /// Creates a job and returns its id.
    pub fn job(&self, job_type: &str, config: Value) -> String {
        let r = self.post(
            "/jobs",
            &serde_json::json!({"job_type": job_type, "config": config}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["uuid"].as_str().unwrap().to_string()
    }

    /// Triggers a run and returns its id.
    pub fn trigger(&self, job_id: &str, overrides: Option<Value>) -> String {
        let mut body = serde_json::json!({"job_id": job_id});
        if let Some(o) = overrides {
            body["config"] = o;
        }
        let r = self.post("/job-runs", &body);
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["uuid"].as_str().unwrap().to_string()
    }

    /// Polls a run until `pred` holds or the timeout passes.
    pub fn wait_run(
        &self,
        run_id: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let r = self.get(&format!("/job-runs/{run_id}"));
            assert_eq!(r.status, 200, "{}", r.body);
            if pred(&r.body) {
                return r.body;
            }
            assert!(
                start.elapsed() < timeout,
                "run never reached the state: {}",
                r.body
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls a run until it reaches a terminal status.
    pub fn wait_done(&self, run_id: &str) -> Value {
        self.wait_run(run_id, Duration::from_secs(60), |b| {
            matches!(
                b["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
    }
}
