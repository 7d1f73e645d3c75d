//! Opt-in capture of request input and result output onto spans, with redaction and a size cap.

use serde_json::Value;

/// The replacement written in place of a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Whether and how tool inputs and outputs are recorded on spans (`input.value`,
/// `output.value`, `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`).
///
/// Off by default: tool arguments and results often carry personal or secret data. When on,
/// every object member whose key matches one of [`redact_fields`](Self::redact_fields)
/// (ASCII case-insensitive, at any depth) has its value replaced by `"[REDACTED]"`, and the
/// serialized text is cut to [`max_bytes`](Self::max_bytes).
///
/// ```
/// use mcp_otel::CaptureConfig;
/// use serde_json::json;
///
/// let capture = CaptureConfig::enabled().redact(["ssn"]).max_bytes(64);
/// let text = capture.render(&json!({"name": "ada", "SSN": "123-45-6789"})).unwrap();
/// assert_eq!(text, r#"{"SSN":"[REDACTED]","name":"ada"}"#);
/// assert_eq!(CaptureConfig::default().render(&json!({"a": 1})), None); // off by default
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Record inputs and outputs at all. Default `false`.
    pub enabled: bool,
    /// Object keys whose values are replaced by `"[REDACTED]"`. Default:
    /// [`DEFAULT_REDACT_FIELDS`].
    pub redact_fields: Vec<String>,
    /// Maximum length in bytes of a captured value; longer text is cut on a character
    /// boundary and ends with `…[truncated]`. Default 4096.
    pub max_bytes: usize,
}

/// Keys redacted unless configured otherwise.
pub const DEFAULT_REDACT_FIELDS: [&str; 7] = [
    "password",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "authorization",
];

/// The default [`CaptureConfig::max_bytes`].
pub const DEFAULT_MAX_BYTES: usize = 4096;

const TRUNCATED: &str = "…[truncated]";

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            redact_fields: DEFAULT_REDACT_FIELDS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl CaptureConfig {
    /// Capture on, with the default redaction list and size cap.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    /// Adds keys to redact.
    #[must_use]
    pub fn redact<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redact_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// Sets the size cap in bytes.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The text to record for `value`, or `None` when capture is off.
    pub fn render(&self, value: &Value) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let mut value = value.clone();
        self.redact_in_place(&mut value);
        Some(self.truncate(value.to_string()))
    }

    /// The text to record for a plain string (e.g. a resource URI), or `None` when capture is
    /// off. Only the size cap applies.
    pub fn render_text(&self, text: &str) -> Option<String> {
        self.enabled.then(|| self.truncate(text.to_owned()))
    }

    fn is_redacted(&self, key: &str) -> bool {
        self.redact_fields
            .iter()
            .any(|field| field.eq_ignore_ascii_case(key))
    }

    fn redact_in_place(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, member) in map.iter_mut() {
                    if self.is_redacted(key) {
                        *member = Value::String(REDACTED.to_owned());
                    } else {
                        self.redact_in_place(member);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_in_place(item)),
            _ => {}
        }
    }

    fn truncate(&self, mut text: String) -> String {
        if text.len() <= self.max_bytes {
            return text;
        }
        let mut cut = self.max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(TRUNCATED);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_nested_keys_case_insensitively() {
        let capture = CaptureConfig::enabled().redact(["card"]);
        let text = capture
            .render(&json!({"user": {"Password": "hunter2", "cards": [{"CARD": "4111"}]}}))
            .expect("enabled");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("4111"), "{text}");
        assert!(text.contains(REDACTED), "{text}");
    }

    #[test]
    fn truncates_on_a_char_boundary() {
        let capture = CaptureConfig::enabled().max_bytes(5);
        let text = capture.render_text("aaaaé€€€").expect("enabled");
        assert_eq!(text, format!("aaaa{TRUNCATED}"));
    }
}
