//! Segment names in resource URIs: percent-encoding for `resources/list`, decoding and
//! validation for `resources/read` (no path tricks).

use std::fmt::Write as _;

/// Longest accepted segment, in bytes after decoding.
pub(crate) const MAX_SEGMENT_BYTES: usize = 256;

/// Why a segment in a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SegmentError {
    Empty,
    TooLong,
    BadEscape,
    NotUtf8,
    /// A character that would change the meaning of the path (`/`, `\`, `?`, `#`), a control
    /// character, or a `.`/`..` segment.
    Forbidden(&'static str),
}

impl std::fmt::Display for SegmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("the segment is empty"),
            Self::TooLong => write!(f, "the segment is longer than {MAX_SEGMENT_BYTES} bytes"),
            Self::BadEscape => f.write_str("the segment has a malformed percent-escape"),
            Self::NotUtf8 => f.write_str("the decoded segment is not UTF-8"),
            Self::Forbidden(what) => write!(f, "the segment contains {what}"),
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for &b in segment.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one raw segment (the part of a URI after the template's prefix) and validates it:
/// non-empty, at most [`MAX_SEGMENT_BYTES`], valid escapes and UTF-8, and neither raw nor
/// decoded does it contain `/`, `\`, `?`, `#` or control characters, nor is it `.` or `..`.
pub(crate) fn decode_segment(raw: &str) -> Result<String, SegmentError> {
    if raw.is_empty() {
        return Err(SegmentError::Empty);
    }
    if raw.len() > MAX_SEGMENT_BYTES * 3 {
        return Err(SegmentError::TooLong);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                    return Err(SegmentError::BadEscape);
                };
                let (Some(h), Some(l)) = (hex(h), hex(l)) else {
                    return Err(SegmentError::BadEscape);
                };
                out.push(h << 4 | l);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| SegmentError::NotUtf8)?;
    if decoded.is_empty() {
        return Err(SegmentError::Empty);
    }
    if decoded.len() > MAX_SEGMENT_BYTES {
        return Err(SegmentError::TooLong);
    }
    if decoded == "." || decoded == ".." {
        return Err(SegmentError::Forbidden("a relative path component"));
    }
    for c in decoded.chars() {
        let what = match c {
            '/' | '\\' => "a path separator",
            '?' | '#' => "a query or fragment delimiter",
            c if c.is_control() => "a control character",
            _ => continue,
        };
        return Err(SegmentError::Forbidden(what));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_unusual_names() {
        for name in ["app-alpha", "a b", "ünï", "100%", "x:y", "a.b"] {
            let encoded = encode_segment(name);
            assert!(encoded.bytes().all(|b| b.is_ascii() && b != b'/'));
            assert_eq!(decode_segment(&encoded).as_deref(), Ok(name));
        }
    }

    #[test]
    fn refuses_path_tricks_and_bad_input() {
        let refused = [
            "",
            "..",
            ".",
            "%2e%2E",
            "a/b",
            "a%2Fb",
            "a%5cb",
            "..%2f..%2fetc",
            "a?x=1",
            "a#f",
            "%00",
            "a%0Ab",
            "%zz",
            "%4",
            "%C3%28",
        ];
        for raw in refused {
            assert!(decode_segment(raw).is_err(), "{raw:?} must be refused");
        }
        assert_eq!(
            decode_segment(&"x".repeat(MAX_SEGMENT_BYTES + 1)),
            Err(SegmentError::TooLong)
        );
        assert!(decode_segment(&"x".repeat(MAX_SEGMENT_BYTES)).is_ok());
    }
}
