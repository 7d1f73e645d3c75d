//! The codec that turns a snapshot into the bytes stored in the shared backend and back.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::FetchError;

/// Encodes snapshots for the shared backend and decodes them on the other replicas.
///
/// [`format`](Self::format) names the encoding and the shape of the data (for example
/// `"firewall-rules/v2"`). Replicas only load shared snapshots whose format equals their own:
/// during a rolling deploy that changes the data type, a replica that meets a snapshot in
/// another format (or one that fails to decode) fetches from the downstream itself instead of
/// serving data it cannot read. Change the format whenever the encoded shape changes.
///
/// [`JsonCodec`] covers any `serde` type; implement the trait for another encoding.
///
/// ```
/// use mcp_cache::{FetchError, SnapshotCodec};
///
/// /// Newline-separated lines.
/// struct Lines;
///
/// impl SnapshotCodec<Vec<String>> for Lines {
///     fn format(&self) -> &str {
///         "lines/v1"
///     }
///     fn encode(&self, data: &Vec<String>) -> Result<Vec<u8>, FetchError> {
///         Ok(data.join("\n").into_bytes())
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<Vec<String>, FetchError> {
///         Ok(std::str::from_utf8(bytes)?.lines().map(str::to_owned).collect())
///     }
/// }
///
/// let bytes = Lines.encode(&vec!["a".into(), "b".into()]).unwrap();
/// assert_eq!(Lines.decode(&bytes).unwrap(), ["a", "b"]);
/// ```
pub trait SnapshotCodec<T>: Send + Sync + 'static {
    /// The name of the encoding and data shape, stored next to the bytes.
    fn format(&self) -> &str;
    /// Encodes one snapshot's data.
    fn encode(&self, data: &T) -> Result<Vec<u8>, FetchError>;
    /// Decodes bytes written by [`encode`](Self::encode) of a codec with the same format.
    fn decode(&self, bytes: &[u8]) -> Result<T, FetchError>;
}

/// A [`SnapshotCodec`] for any `serde` type, as JSON, under a format name of your choice.
///
/// ```
/// use std::collections::HashMap;
/// use mcp_cache::{JsonCodec, SnapshotCodec};
///
/// let codec = JsonCodec::<HashMap<String, u32>>::new("counts/v1");
/// let bytes = codec.encode(&HashMap::from([("a".to_owned(), 1)])).unwrap();
/// assert_eq!(codec.decode(&bytes).unwrap()["a"], 1);
/// assert_eq!(codec.format(), "counts/v1");
/// ```
pub struct JsonCodec<T> {
    format: Cow<'static, str>,
    _data: PhantomData<fn() -> T>,
}

impl<T> JsonCodec<T> {
    /// A JSON codec whose stored format is `format`.
    pub fn new(format: impl Into<Cow<'static, str>>) -> Self {
        Self {
            format: format.into(),
            _data: PhantomData,
        }
    }
}

impl<T> Clone for JsonCodec<T> {
    fn clone(&self) -> Self {
        Self::new(self.format.clone())
    }
}

impl<T> fmt::Debug for JsonCodec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonCodec")
            .field("format", &self.format)
            .finish()
    }
}

impl<T> SnapshotCodec<T> for JsonCodec<T>
where
    T: Serialize + DeserializeOwned + 'static,
{
    fn format(&self) -> &str {
        &self.format
    }

    fn encode(&self, data: &T) -> Result<Vec<u8>, FetchError> {
        Ok(serde_json::to_vec(data)?)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, FetchError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}
