//! A plain HTTP/1.1 client on ONE kept-alive connection that reads every response to its end,
//! as curl, browsers, proxies and the TypeScript SDK do (rmcp's client stops reading at the
//! JSON-RPC response, so it never waits for the end of the body).

use std::net::SocketAddr;

use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// What a `POST` got back, body read to its end.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The JSON-RPC message with `id` in the body: the body itself for `application/json`, the
    /// `data:` of an SSE event otherwise.
    pub fn message(&self, id: u64) -> Option<Value> {
        let text = std::str::from_utf8(&self.body).ok()?;
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            return (value["id"] == id).then_some(value);
        }
        text.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(|value| value["id"] == id)
    }
}

/// One TCP connection to the server; every request goes over it, one at a time.
pub struct KeepAlive {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    path: String,
    connection: tokio::task::JoinHandle<()>,
}

impl KeepAlive {
    /// Connects to the server of `url` (`http://127.0.0.1:PORT/mcp`).
    pub async fn connect(url: &str) -> Self {
        let rest = url.strip_prefix("http://").expect("an http:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = host.parse().expect("a socket address in the URL");
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // The client side sends at once too, so any wait measured is the server's.
        tcp.set_nodelay(true).expect("client TCP_NODELAY");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("HTTP/1.1 handshake");
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Self {
            sender,
            host: host.to_owned(),
            path: path.to_owned(),
            connection,
        }
    }

    /// POSTs `body` with the MCP headers (`headers` added) and reads the whole response.
    /// Panics if the connection was closed: every request must reuse this one connection.
    pub async fn post(&mut self, headers: &[(&str, &str)], body: &Value) -> Answer {
        self.sender
            .ready()
            .await
            .expect("the kept-alive connection is still open");
        let mut request = Request::post(self.path.as_str())
            .header("host", self.host.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self
            .sender
            .send_request(request)
            .await
            .expect("response on the kept-alive connection");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("whole body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.connection.abort();
    }
}
