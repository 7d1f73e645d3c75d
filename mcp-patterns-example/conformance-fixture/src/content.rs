//! Fixed payloads the suite's scenarios look for.

/// A 1x1 red PNG, base64-encoded: the image of `test_image_content`, `test://static-binary` and
/// `test_prompt_with_image`.
pub(super) const PNG_1X1_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A 44-byte WAV header with one silent 16-bit sample, base64-encoded: the audio of
/// `test_audio_content`.
pub(super) const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes standard base64 (with padding) without a dependency; `None` on bad input.
    fn decode(input: &str) -> Option<Vec<u8>> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut count = 0u8;
        let mut out = Vec::new();
        for byte in input.trim_end_matches('=').bytes() {
            let value = u32::try_from(ALPHABET.iter().position(|&c| c == byte)?).ok()?;
            bits = (bits << 6) | value;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push(u8::try_from((bits >> count) & 0xff).ok()?);
            }
        }
        Some(out)
    }

    #[test]
    fn png_is_a_png() {
        let bytes = decode(PNG_1X1_BASE64).expect("valid base64");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn wav_is_a_riff_wave() {
        let bytes = decode(WAV_BASE64).expect("valid base64");
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
    }
}
