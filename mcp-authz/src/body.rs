//! Cheap tests of a JSON-RPC request body, before it is parsed.

/// Whether `body`, read as JSON, may contain the string `text`: it holds `text` spelled out, or
/// a backslash (JSON may escape any character of a string, and some encoders escape every `/`).
/// `false` means no JSON parser, rmcp's included, can find `text` in it, so the body need not be
/// parsed to look for it.
pub(crate) fn may_contain(body: &[u8], text: &str) -> bool {
    memchr::memmem::find(body, text.as_bytes()).is_some() || memchr::memchr(b'\\', body).is_some()
}

#[cfg(test)]
mod tests {
    use super::may_contain;

    #[test]
    fn spelled_out_or_escaped_or_not_at_all() {
        assert!(may_contain(br#"{"method":"initialize"}"#, "initialize"));
        assert!(may_contain(
            br#"{"method":"\u0069nitialize"}"#,
            "initialize"
        ));
        assert!(may_contain(br#"{"method":"a\/b"}"#, "a/b"));
        assert!(!may_contain(br#"{"method":"tools/list"}"#, "initialize"));
    }
}
