//! A lean HTTP/1.1 load generator: keep-alive connections driven as tasks on
//! one current-thread runtime, so the clients take as little of the cores
//! they share with the server as they can.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One keep-alive connection to the API.
pub struct Conn {
    /// The connection's sender.
    pub tx: SendRequest<Full<Bytes>>,
    /// `host:port`.
    pub host: String,
    /// The path prefix (`/api/v1`).
    pub prefix: String,
    /// The `Authorization` header value.
    pub auth: String,
}

/// Opens a keep-alive connection to `host` (`host:port`).
async fn connect(host: &str) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(host).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    tx
}

impl Conn {
    /// Connects to `base` (`http://host:port/api/v1`) with a bearer token.
    pub async fn open(base: &str, token: &str) -> Conn {
        let rest = base.strip_prefix("http://").expect("http base URL");
        let (host, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Conn {
            tx: connect(host).await,
            host: host.to_string(),
            prefix: prefix.to_string(),
            auth: format!("Bearer {token}"),
        }
    }

    /// Sends one JSON request; returns the status and the whole body.
    pub async fn send(&mut self, method: Method, path: &str, body: &[u8]) -> (StatusCode, Bytes) {
        self.send_typed(method, path, "application/json", body)
            .await
    }

    /// Sends one request with a body of `content_type`.
    pub async fn send_typed(
        &mut self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (StatusCode, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header("host", &self.host)
            .header("authorization", &self.auth)
            .header("content-type", content_type)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        if self.tx.ready().await.is_err() {
            // The server closes a keep-alive connection left idle past its
            // header read timeout (10 s); a new one takes its place.
            self.tx = connect(&self.host).await;
            self.tx.ready().await.unwrap();
        }
        let res = self.tx.send_request(req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes())
    }

    /// POST a JSON `body` to `path`, expecting 201; the created record's `uuid`.
    pub async fn post_created(&mut self, path: &str, body: &[u8]) -> String {
        let (status, bytes) = self.send(Method::POST, path, body).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "POST {path}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let created: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        created["uuid"]
            .as_str()
            .expect("201 with a uuid")
            .to_string()
    }

    /// GET `path`, expecting 200; the body as JSON.
    pub async fn get_json(&mut self, path: &str) -> serde_json::Value {
        let (status, body) = self.send(Method::GET, path, b"").await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        serde_json::from_slice(&body).unwrap()
    }
}

/// A current-thread runtime for the clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
