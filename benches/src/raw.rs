//! A plain HTTP/1.1 MCP client on one kept-alive connection that reads every response to its
//! end, as curl, wrk, browsers, proxies and the TypeScript SDK do.
//!
//! rmcp's own client stops reading an SSE response at the JSON-RPC response it waits for, so it
//! never waits for the end of the body; a server that delays its last write (no `TCP_NODELAY`)
//! looks fast to it and slow to everyone else. [`RawClient`] exposes that.
//!
//! Two protocol modes ([`RawMode`]): a legacy session (`initialize`, then `Mcp-Session-Id` on
//! every request, ended with `DELETE`), or the stateless 2026-07-28 revision (no session; every
//! request carries `MCP-Protocol-Version` and `_meta` with the protocol version, client info and
//! client capabilities).

use std::fmt::Write as _;
use std::net::SocketAddr;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};

/// The protocol revision a stateless client speaks.
pub const STATELESS_VERSION: &str = "2026-07-28";
/// The revision a session client asks for in `initialize`.
pub const SESSION_VERSION: &str = "2025-11-25";

/// How a [`RawClient`] speaks MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawMode {
    /// A legacy Streamable HTTP session: `initialize` once, `Mcp-Session-Id` on each request.
    Session,
    /// The stateless 2026-07-28 revision: no session, per-request `_meta`.
    Stateless,
}

/// One JSON-RPC request, pre-rendered apart from its id.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// `{"jsonrpc":"2.0","method":…,"params":…,"id":` — the id and `}` follow.
    prefix: String,
    /// The `Mcp-Method` and `Mcp-Name` headers a stateless request carries.
    headers: Vec<(&'static str, HeaderValue)>,
}

impl RawRequest {
    /// The request `method` with `params` (a JSON object), for a client in `mode`: a stateless
    /// client's requests get the per-request `_meta` fields.
    pub fn new(method: &str, params: &Value, mode: RawMode) -> Self {
        let mut params = match params {
            Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        if mode == RawMode::Stateless {
            params.insert(
                "_meta".to_owned(),
                json!({
                    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                    "io.modelcontextprotocol/clientInfo": { "name": "mcp-patterns-loadgen", "version": "0" },
                    "io.modelcontextprotocol/clientCapabilities": {},
                }),
            );
        }
        let mut headers = Vec::new();
        if mode == RawMode::Stateless {
            // The 2026-07-28 routing headers: the method, and the tool, prompt or resource.
            if let Ok(value) = HeaderValue::try_from(method) {
                headers.push(("mcp-method", value));
            }
            let name = params
                .get("name")
                .or_else(|| params.get("uri"))
                .and_then(Value::as_str)
                .filter(|n| n.bytes().all(|b| b.is_ascii_graphic()));
            if let Some(value) = name.and_then(|n| HeaderValue::try_from(n).ok()) {
                headers.push(("mcp-name", value));
            }
        }
        let head = json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string();
        // `{"jsonrpc":…,"params":{…}}` → `{"jsonrpc":…,"params":{…},"id":`
        let prefix = format!("{},\"id\":", &head[..head.len() - 1]);
        Self { prefix, headers }
    }

    fn body(&self, id: u64) -> Bytes {
        let mut body = String::with_capacity(self.prefix.len() + 24);
        body.push_str(&self.prefix);
        let _ = write!(body, "{id}}}");
        Bytes::from(body)
    }
}

/// The parts of a JSON-RPC response the load generator checks.
#[derive(Deserialize)]
struct Response {
    id: Option<Value>,
    result: Option<ResultHead>,
    error: Option<ErrorHead>,
}

#[derive(Deserialize)]
struct ResultHead {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(default)]
    content: Vec<ContentHead>,
}

#[derive(Deserialize)]
struct ContentHead {
    text: Option<String>,
}

#[derive(Deserialize)]
struct ErrorHead {
    code: i64,
    message: String,
}

/// A whole response: status, session id (if any) and body.
#[derive(Debug)]
pub struct RawAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Mcp-Session-Id` header, if any.
    pub session: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Bytes,
}

impl RawAnswer {
    /// Checks that the body holds the JSON-RPC response to `id`, with a result that is not a
    /// tool error; `Err` with a short message otherwise.
    pub fn check(&self, id: u64) -> Result<(), String> {
        if self.status != StatusCode::OK {
            return Err(format!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            ));
        }
        let response = find_response(&self.body, id)
            .ok_or_else(|| format!("no JSON-RPC response to request {id} in the body"))?;
        if let Some(error) = response.error {
            return Err(format!("JSON-RPC error {}: {}", error.code, error.message));
        }
        match response.result {
            Some(result) if result.is_error => Err(format!(
                "tool error: {}",
                result
                    .content
                    .first()
                    .and_then(|c| c.text.as_deref())
                    .unwrap_or("isError result")
            )),
            Some(_) => Ok(()),
            None => Err("a response without result or error".to_owned()),
        }
    }
}

/// The response to `id` in a JSON body or in the `data:` lines of an SSE body.
fn find_response(body: &[u8], id: u64) -> Option<Response> {
    let is_ours = |r: &Response| r.id.as_ref().and_then(Value::as_u64) == Some(id);
    if body.first() == Some(&b'{') {
        return serde_json::from_slice::<Response>(body)
            .ok()
            .filter(is_ours);
    }
    body.split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b"data:"))
        .filter_map(|data| serde_json::from_slice::<Response>(data.trim_ascii()).ok())
        .find(is_ours)
}

/// One kept-alive HTTP/1.1 connection to an MCP endpoint, one request at a time.
pub struct RawClient {
    sender: SendRequest<Full<Bytes>>,
    connection: tokio::task::JoinHandle<()>,
    host: HeaderValue,
    path: String,
    authorization: Option<HeaderValue>,
    session: Option<HeaderValue>,
    mode: RawMode,
    next_id: u64,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl RawClient {
    /// Connects to `url` (`http://HOST:PORT/PATH`, HOST an IP address) with `bearer`, and in
    /// [`RawMode::Session`] opens a session (`initialize`, `notifications/initialized`).
    pub async fn connect(url: &str, bearer: Option<&str>, mode: RawMode) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = authority
            .parse()
            .map_err(|e| format!("{authority}: not an IP address and port: {e}"))?;
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let authorization = bearer
            .map(|token| HeaderValue::try_from(format!("Bearer {token}")))
            .transpose()
            .map_err(|e| format!("token: {e}"))?;
        let mut client = Self {
            sender,
            connection,
            host: HeaderValue::try_from(authority).map_err(|e| e.to_string())?,
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            authorization,
            session: None,
            mode,
            next_id: 1,
        };
        if mode == RawMode::Session {
            client.initialize().await?;
        }
        Ok(client)
    }

    async fn initialize(&mut self) -> Result<(), String> {
        let init = RawRequest::new(
            "initialize",
            &json!({ "protocolVersion": SESSION_VERSION, "capabilities": {},
                     "clientInfo": { "name": "mcp-patterns-loadgen", "version": "0" } }),
            RawMode::Session,
        );
        let answer = self.send(Method::POST, Some(init.body(0)), &[]).await?;
        answer.check(0).map_err(|e| format!("initialize: {e}"))?;
        self.session = answer
            .session
            .map(HeaderValue::try_from)
            .transpose()
            .map_err(|e| format!("session id: {e}"))?;
        let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let answer = self.send(Method::POST, Some(note), &[]).await?;
        if !answer.status.is_success() {
            return Err(format!("notifications/initialized: HTTP {}", answer.status));
        }
        Ok(())
    }

    /// The session id the server gave, in [`RawMode::Session`].
    pub fn session(&self) -> Option<&str> {
        self.session.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Sends `request` with the next id, reads the whole response and checks it
    /// ([`RawAnswer::check`]).
    pub async fn call(&mut self, request: &RawRequest) -> Result<(), String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(Method::POST, Some(request.body(id)), &request.headers)
            .await?
            .check(id)
    }

    /// Sends `request` with the next id and returns the whole response unchecked, with its id.
    pub async fn answer(&mut self, request: &RawRequest) -> Result<(u64, RawAnswer), String> {
        let id = self.next_id;
        self.next_id += 1;
        let answer = self
            .send(Method::POST, Some(request.body(id)), &request.headers)
            .await?;
        Ok((id, answer))
    }

    /// Ends the session (HTTP `DELETE`) in [`RawMode::Session`]; closes the connection.
    pub async fn close(mut self) {
        if self.session.is_some() {
            let _ = self.send(Method::DELETE, None, &[]).await;
        }
    }

    async fn send(
        &mut self,
        method: Method,
        body: Option<Bytes>,
        extra: &[(&'static str, HeaderValue)],
    ) -> Result<RawAnswer, String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let mut request = Request::builder()
            .method(method)
            .uri(self.path.as_str())
            .header(HOST, self.host.clone())
            .header(ACCEPT, "application/json, text/event-stream");
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session.clone())
                .header("mcp-protocol-version", SESSION_VERSION);
        } else if self.mode == RawMode::Stateless {
            request = request.header("mcp-protocol-version", STATELESS_VERSION);
        }
        for (name, value) in extra {
            request = request.header(*name, value.clone());
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(RawAnswer {
            status: parts.status,
            session: header("mcp-session-id"),
            content_type: header("content-type"),
            body,
        })
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_render_with_their_id_and_stateless_meta() {
        let request = RawRequest::new(
            "tools/call",
            &json!({ "name": "get_firewall_rule", "arguments": { "app_name": "app-alpha" } }),
            RawMode::Stateless,
        );
        let body: Value = serde_json::from_slice(&request.body(42)).expect("valid JSON");
        assert_eq!(body["id"], 42);
        assert_eq!(body["method"], "tools/call");
        assert_eq!(body["params"]["arguments"]["app_name"], "app-alpha");
        assert_eq!(
            body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            STATELESS_VERSION
        );
        let session = RawRequest::new("tools/list", &json!({}), RawMode::Session);
        let body: Value = serde_json::from_slice(&session.body(7)).expect("valid JSON");
        assert_eq!(
            body,
            json!({ "jsonrpc": "2.0", "method": "tools/list", "params": {}, "id": 7 })
        );
    }

    #[test]
    fn answers_are_found_in_sse_and_json_bodies() {
        let ok = |body: &'static str| RawAnswer {
            status: StatusCode::OK,
            session: None,
            content_type: None,
            body: Bytes::from_static(body.as_bytes()),
        };
        let sse = ok(
            "id: 0\nretry: 3000\ndata: \n\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"content\":[]}}\nid: 1\n\n",
        );
        assert_eq!(sse.check(3), Ok(()));
        assert!(sse.check(4).is_err(), "another id is not our response");
        let tool_error = ok(
            r#"{"jsonrpc":"2.0","id":5,"result":{"isError":true,"content":[{"type":"text","text":"no entitlement"}]}}"#,
        );
        assert_eq!(
            tool_error.check(5),
            Err("tool error: no entitlement".to_owned())
        );
        let rpc_error = ok(r#"{"jsonrpc":"2.0","id":6,"error":{"code":-32602,"message":"bad"}}"#);
        assert_eq!(
            rpc_error.check(6),
            Err("JSON-RPC error -32602: bad".to_owned())
        );
    }
}
