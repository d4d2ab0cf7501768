//! A local HTTP server on 127.0.0.1 that plugin requests reach in tests:
//! `/ok`, `/echo` (what it received), `/large` (a huge Content-Length),
//! `/endless` (chunked, never ends), `/slow` (no answer for a minute),
//! `/redirect?to=URL`, `/page` (HTML), `/v1/chat/completions` (a fake
//! OpenAI-compatible API) and `/callback` (webhook receiver). Every request
//! is kept for the test to look at.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the origin received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When its request line and headers were read.
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Origin {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// The API key the fake OpenAI server accepts.
pub const OPENAI_KEY: &str = "sk-test-0123456789abcdef";

impl Origin {
    pub fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &kept);
                });
            }
        });
        Origin { port, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.ends_with('\n') {
        // Closed before a whole request line: a client killed after it
        // connected (the crash tests kill hosts mid-run) sent no request.
        return Ok(());
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(16 << 20)];
    reader.read_exact(&mut body)?;
    let request = Seen {
        method,
        path: path.clone(),
        headers,
        body,
        at,
    };
    seen.lock().unwrap().push(request.clone());
    let mut out = stream;
    let route = path.split('?').next().unwrap_or_default();
    match route {
        "/ok" => reply(&mut out, 200, &json!({"ok": true, "items": [1, 2, 3]})),
        "/echo" => reply(
            &mut out,
            200,
            &json!({
                "method": request.method,
                "path": request.path,
                "authorization": request.header("authorization"),
                "host": request.header("host"),
                "body": String::from_utf8_lossy(&request.body),
            }),
        ),
        "/page" => {
            let html = "<html><head><title>Queues</title></head><body><h1>Queues</h1>\
                        <p>A queue keeps work in order.</p><script>x()</script></body></html>";
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            )
        }
        "/large" => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\nconnection: close\r\n\r\n"
            )?;
            let chunk = vec![b'x'; 64 << 10];
            loop {
                out.write_all(&chunk)?;
            }
        }
        "/endless" => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )?;
            let chunk = vec![b'y'; 64 << 10];
            loop {
                write!(out, "{:x}\r\n", chunk.len())?;
                out.write_all(&chunk)?;
                out.write_all(b"\r\n")?;
            }
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(60));
            reply(&mut out, 200, &json!({"late": true}))
        }
        "/redirect" => {
            let to = path.split_once("?to=").map(|(_, t)| t).unwrap_or("/ok");
            write!(
                out,
                "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        }
        "/v1/chat/completions" => {
            if request.header("authorization") != Some(&format!("Bearer {OPENAI_KEY}")) {
                return reply(
                    &mut out,
                    401,
                    &json!({"error": {"message": "Incorrect API key provided"}}),
                );
            }
            let asked: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let last = asked["messages"]
                .as_array()
                .and_then(|m| m.last())
                .and_then(|m| m["content"].as_str())
                .unwrap_or_default()
                .to_string();
            reply(
                &mut out,
                200,
                &json!({
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": asked["model"],
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": format!("echo: {last}")},
                        "finish_reason": "stop"
                    }],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
                }),
            )
        }
        "/callback" => reply(&mut out, 200, &json!({})),
        _ => reply(&mut out, 404, &json!({"error": "no such route"})),
    }
}

fn reply(out: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )
}
