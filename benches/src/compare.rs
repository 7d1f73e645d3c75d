//! Parts of the side-by-side comparison (the `compare` binary): the parity check that two MCP
//! servers answer the same calls with the same results, and min/median/max statistics.

use std::fmt::Write as _;

use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams, ResourceContents};
use rmcp::service::ServiceError;
use serde::Serialize;
use serde_json::{Value, json};

use crate::load::connect;

/// What one server answered to one call, reduced to what must match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// A result: its JSON (a tool's structured content, a resource's parsed text, a sorted
    /// tool-name list) and, for resources, the mime type.
    Ok {
        /// The result.
        value: Value,
    },
    /// A `tools/call` result with `isError: true` and its text.
    ToolError {
        /// The message.
        message: String,
    },
    /// A JSON-RPC error (its message is not compared: SDKs word them differently).
    RpcError {
        /// The message.
        message: String,
    },
    /// The session could not be opened (e.g. HTTP 401).
    Refused {
        /// The client's error.
        message: String,
    },
}

impl Answer {
    /// Whether two answers count as the same: equal results, equal tool-error texts, or both a
    /// JSON-RPC error, or both refused.
    pub fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::RpcError { .. }, Self::RpcError { .. })
            | (Self::Refused { .. }, Self::Refused { .. }) => true,
            (a, b) => a == b,
        }
    }

    fn short(&self) -> String {
        let mut text = match self {
            Self::Ok { value } => format!("ok {value}"),
            Self::ToolError { message } => format!("tool error: {message}"),
            Self::RpcError { message } => format!("JSON-RPC error: {message}"),
            Self::Refused { message } => format!("refused: {message}"),
        };
        if text.len() > 100 {
            let mut end = 100;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        text
    }
}

/// One call of the parity check.
#[derive(Debug, Clone)]
pub enum Probe {
    /// `tools/call`.
    Call {
        /// Tool.
        name: &'static str,
        /// Arguments.
        arguments: Value,
    },
    /// `resources/read`.
    Read {
        /// URI.
        uri: &'static str,
    },
    /// `tools/list`: the sorted names.
    ListTools,
}

impl Probe {
    fn label(&self) -> String {
        match self {
            Self::Call { name, arguments } => format!("tools/call {name} {arguments}"),
            Self::Read { uri } => format!("resources/read {uri}"),
            Self::ListTools => "tools/list".to_owned(),
        }
    }
}

/// One call of the parity check and what each server answered.
#[derive(Debug, Clone, Serialize)]
pub struct ParityCheck {
    /// Who called (a demo user, or `anonymous`).
    pub user: String,
    /// The call.
    pub call: String,
    /// The reference server's answer.
    pub rust: Answer,
    /// The Python server's answer.
    pub python: Answer,
    /// Whether they match ([`Answer::matches`]).
    pub same: bool,
}

/// The calls compared for `(user, token)` pairs: alice (developer, app-alpha), nobody (no
/// `firewall:read`) and no token at all.
pub fn parity_probes() -> Vec<(&'static str, Vec<Probe>)> {
    let get = |app: &str| Probe::Call {
        name: "get_firewall_rule",
        arguments: json!({ "app_name": app }),
    };
    vec![
        (
            "alice",
            vec![
                Probe::ListTools,
                get("app-alpha"),
                get("app-beta"),
                get("app-nope"),
                get("../etc"),
                Probe::Call {
                    name: "list_firewall_rules",
                    arguments: json!({}),
                },
                Probe::Read {
                    uri: "cache://firewalls/app-alpha",
                },
                Probe::Read {
                    uri: "cache://firewalls/app-beta",
                },
                Probe::Read {
                    uri: "cache://firewalls",
                },
            ],
        ),
        ("ada", vec![get("app-gamma")]),
        ("nobody", vec![Probe::ListTools]),
        ("anonymous", vec![Probe::ListTools]),
    ]
}

async fn ask(url: &str, token: Option<&str>, probe: &Probe) -> Answer {
    let client = match connect(url, token).await {
        Ok(client) => client,
        Err(message) => return Answer::Refused { message },
    };
    let rpc = |error: ServiceError| match error {
        ServiceError::McpError(e) => Answer::RpcError {
            message: e.message.to_string(),
        },
        other => Answer::Refused {
            message: other.to_string(),
        },
    };
    let answer = match probe {
        Probe::Call { name, arguments } => {
            let params = CallToolRequestParams::new(*name)
                .with_arguments(arguments.as_object().cloned().unwrap_or_default());
            match client.call_tool(params).await {
                Ok(result) => {
                    let text = result
                        .content
                        .first()
                        .and_then(|c| c.as_text())
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    if result.is_error == Some(true) {
                        Answer::ToolError { message: text }
                    } else {
                        let value = result
                            .structured_content
                            .clone()
                            .or_else(|| serde_json::from_str(&text).ok())
                            .unwrap_or(Value::String(text));
                        Answer::Ok { value }
                    }
                }
                Err(error) => rpc(error),
            }
        }
        Probe::Read { uri } => match client
            .read_resource(ReadResourceRequestParams::new(*uri))
            .await
        {
            Ok(result) => {
                let values: Vec<Value> = result
                    .contents
                    .iter()
                    .map(|c| match c {
                        ResourceContents::TextResourceContents {
                            text, mime_type, ..
                        } => json!({
                            "mime_type": mime_type,
                            "json": serde_json::from_str::<Value>(text)
                                .unwrap_or_else(|_| Value::String(text.clone())),
                        }),
                        _ => json!("non-text contents"),
                    })
                    .collect();
                Answer::Ok {
                    value: Value::Array(values),
                }
            }
            Err(error) => rpc(error),
        },
        Probe::ListTools => match client.list_all_tools().await {
            Ok(tools) => {
                let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
                names.sort();
                Answer::Ok {
                    value: json!(names),
                }
            }
            Err(error) => rpc(error),
        },
    };
    let _ = client.cancel().await;
    answer
}

/// Runs [`parity_probes`] against both servers; `token(user)` gives a user's token (`None` for
/// `anonymous`).
pub async fn check_parity(
    rust_url: &str,
    python_url: &str,
    token: impl Fn(&str) -> Option<String>,
) -> Vec<ParityCheck> {
    let mut checks = Vec::new();
    for (user, probes) in parity_probes() {
        let bearer = token(user);
        for probe in probes {
            let rust = ask(rust_url, bearer.as_deref(), &probe).await;
            let python = ask(python_url, bearer.as_deref(), &probe).await;
            checks.push(ParityCheck {
                user: user.to_owned(),
                call: probe.label(),
                same: rust.matches(&python),
                rust,
                python,
            });
        }
    }
    checks
}

/// The parity checks as a table, one line per call.
pub fn parity_table(checks: &[ParityCheck]) -> String {
    let mut out = String::new();
    for check in checks {
        let _ = writeln!(
            out,
            "{} {:<9} {}\n      rust:   {}\n      python: {}",
            if check.same { "same" } else { "DIFF" },
            check.user,
            check.call,
            check.rust.short(),
            check.python.short(),
        );
    }
    out
}

/// Minimum, median and maximum of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
        };
        Some(Self {
            min: sorted[0],
            median,
            max: sorted[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_counts() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).expect("values");
        assert!((s.median - 2.5).abs() < f64::EPSILON);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn answers_match_on_value_tool_error_text_or_error_kind() {
        let ok = |v| Answer::Ok { value: v };
        assert!(ok(json!({"a": 1})).matches(&ok(json!({"a": 1}))));
        assert!(!ok(json!({"a": 1})).matches(&ok(json!({"a": 2}))));
        let tool = |m: &str| Answer::ToolError { message: m.into() };
        assert!(tool("x").matches(&tool("x")));
        assert!(!tool("x").matches(&tool("y")));
        let rpc = |m: &str| Answer::RpcError { message: m.into() };
        assert!(rpc("not found").matches(&rpc("Unknown resource")));
        assert!(!rpc("x").matches(&tool("x")));
    }
}
