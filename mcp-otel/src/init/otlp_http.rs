//! The OTLP/HTTP protobuf span exporter: each batch is written straight from the SDK's span data
//! into one protobuf buffer and POSTed to `/v1/traces`.
//!
//! `opentelemetry-otlp` first converts every span into the generated protobuf structs (a
//! `String` per attribute key, a `Vec` per id), encodes them and then frees them all; on a busy
//! server that conversion was most of the export thread's time. This exporter writes the same
//! `ExportTraceServiceRequest` message (the tests decode both and compare them) without the
//! intermediate structs. Metrics and the gRPC protocol still go through `opentelemetry-otlp`.

use std::fmt;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::encoding::encoded_len_varint;

/// The most of a collector's response body that is read (it is only checked for its status; the
/// body is read so that the connection can be reused).
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// Exports spans as OTLP/HTTP protobuf with a blocking `reqwest` client, on the batch span
/// processor's own thread.
pub(crate) struct OtlpHttpSpanExporter {
    client: Mutex<Option<reqwest::blocking::Client>>,
    endpoint: String,
    headers: reqwest::header::HeaderMap,
    resource: EncodedResource,
}

impl fmt::Debug for OtlpHttpSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpHttpSpanExporter")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpSpanExporter {
    /// An exporter posting to `endpoint` (the full `/v1/traces` URL) with `headers` added to
    /// every request. Headers whose name or value is not valid HTTP are left out.
    pub(crate) fn new(
        client: reqwest::blocking::Client,
        endpoint: String,
        headers: &[(String, String)],
    ) -> Self {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(value),
            ) {
                map.insert(name, value);
            }
        }
        Self {
            client: Mutex::new(Some(client)),
            endpoint,
            headers: map,
            resource: EncodedResource::default(),
        }
    }

    fn client(&self) -> Result<reqwest::blocking::Client, OTelSdkError> {
        self.client
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("exporter lock poisoned".into()))?
            .clone()
            .ok_or(OTelSdkError::AlreadyShutdown)
    }
}

impl SpanExporter for OtlpHttpSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let client = self.client()?;
        let body = encode_request(&batch, &self.resource);
        drop(batch);
        let response = client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .headers(self.headers.clone())
            .body(body)
            .send()
            .map_err(|e| OTelSdkError::InternalFailure(format!("OTLP/HTTP export failed: {e}")))?;
        let status = response.status();
        // Read (a bounded part of) the body so that the connection is kept for the next batch.
        let mut sink = Vec::new();
        let _ = response.take(MAX_RESPONSE_BODY).read_to_end(&mut sink);
        if status.is_success() {
            Ok(())
        } else {
            Err(OTelSdkError::InternalFailure(format!(
                "OTLP/HTTP export refused by the collector: HTTP {status}"
            )))
        }
    }

    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        let mut client = self
            .client
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("exporter lock poisoned".into()))?;
        match client.take() {
            Some(_) => Ok(()),
            None => Err(OTelSdkError::AlreadyShutdown),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }
}

/// A resource's `Resource` message body and schema URL, encoded once (they are the same in
/// every batch).
#[derive(Debug, Default, Clone)]
pub(crate) struct EncodedResource {
    body: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    pub(crate) fn new(resource: &Resource) -> Self {
        let mut body = Vec::new();
        for (key, value) in resource {
            write_key_value(&mut body, 1, key.as_str(), value);
        }
        Self {
            body,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// A base-128 varint, the bytes `prost::encoding::encode_varint` writes, pushed straight onto
/// the buffer (sized by the length pass, so no push reallocates) instead of through `BufMut`.
#[inline]
#[allow(clippy::cast_possible_truncation)] // the low seven bits, by construction
fn encode_varint(mut value: u64, buf: &mut Vec<u8>) {
    while value >= 0x80 {
        buf.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

fn key_len(field: u32) -> usize {
    encoded_len_varint(u64::from(field << 3))
}

fn write_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    encode_varint(u64::from(field << 3 | wire), buf);
}

/// Length of a length-delimited field whose content is `len` bytes (key, length, content).
fn len_field(field: u32, len: usize) -> usize {
    key_len(field) + encoded_len_varint(len as u64) + len
}

fn write_len(buf: &mut Vec<u8>, field: u32, len: usize) {
    write_key(buf, field, LEN);
    encode_varint(len as u64, buf);
}

/// A proto3 `string`/`bytes` field, left out when empty.
fn str_len(field: u32, value: &[u8]) -> usize {
    if value.is_empty() {
        0
    } else {
        len_field(field, value.len())
    }
}

fn write_str(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        write_len(buf, field, value.len());
        buf.extend_from_slice(value);
    }
}

fn write_uint(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        write_key(buf, field, VARINT);
        encode_varint(value, buf);
    }
}

fn write_fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        write_key(buf, field, FIXED64);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

fn write_fixed32(buf: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        write_key(buf, field, FIXED32);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

// `AnyValue`: 1 string, 2 bool, 3 int64, 4 double, 5 ArrayValue (1 repeated AnyValue). A value
// is always written, even when it is the default of its type (a `oneof` member is present).

fn scalar_len(value: &Value) -> usize {
    match value {
        Value::Bool(_) => key_len(2) + 1,
        Value::I64(v) => key_len(3) + encoded_len_varint(v.cast_unsigned()),
        Value::F64(_) => key_len(4) + 8,
        Value::String(s) => len_field(1, s.as_str().len()),
        Value::Array(array) => len_field(5, array_len(array)),
        other => len_field(1, other.as_str().len()),
    }
}

fn write_scalar(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(v) => {
            write_key(buf, 2, VARINT);
            buf.push(u8::from(*v));
        }
        Value::I64(v) => {
            write_key(buf, 3, VARINT);
            encode_varint(v.cast_unsigned(), buf);
        }
        Value::F64(v) => {
            write_key(buf, 4, FIXED64);
            buf.extend_from_slice(&v.to_le_bytes());
        }
        Value::String(s) => {
            write_len(buf, 1, s.as_str().len());
            buf.extend_from_slice(s.as_str().as_bytes());
        }
        Value::Array(array) => {
            write_len(buf, 5, array_len(array));
            write_array(buf, array);
        }
        other => {
            let text = other.as_str();
            write_len(buf, 1, text.len());
            buf.extend_from_slice(text.as_bytes());
        }
    }
}

fn array_items(array: &Array) -> Vec<Value> {
    match array {
        Array::Bool(v) => v.iter().copied().map(Value::Bool).collect(),
        Array::I64(v) => v.iter().copied().map(Value::I64).collect(),
        Array::F64(v) => v.iter().copied().map(Value::F64).collect(),
        Array::String(v) => v.iter().cloned().map(Value::String).collect(),
        // A future array kind: written as its text, one string.
        other => vec![Value::String(other.to_string().into())],
    }
}

fn array_len(array: &Array) -> usize {
    array_items(array)
        .iter()
        .map(|item| len_field(1, scalar_len(item)))
        .sum()
}

fn write_array(buf: &mut Vec<u8>, array: &Array) {
    for item in array_items(array) {
        write_len(buf, 1, scalar_len(&item));
        write_scalar(buf, &item);
    }
}

/// Writes field `field` as a length-delimited message whose bytes `body` appends, in one pass:
/// `width` bytes are reserved for the length, the body is written after them, and the length is
/// then written in front. When the length takes another number of bytes than `width`, the body
/// moves to make it fit, so the bytes are always the canonical (shortest) encoding; `width` is the
/// length's likely size, chosen so that the move is rare.
fn write_message(buf: &mut Vec<u8>, field: u32, width: usize, body: impl FnOnce(&mut Vec<u8>)) {
    write_key(buf, field, LEN);
    let at = buf.len();
    buf.resize(at + width, 0);
    body(buf);
    let len = buf.len() - at - width;
    let needed = encoded_len_varint(len as u64);
    if needed > width {
        let end = buf.len();
        buf.resize(end + needed - width, 0);
        buf.copy_within(at + width..end, at + needed);
    } else if needed < width {
        buf.copy_within(at + width.., at + needed);
        buf.truncate(at + needed + len);
    }
    let mut value = len as u64;
    for byte in &mut buf[at..at + needed] {
        #[allow(clippy::cast_possible_truncation)] // the low seven bits, by construction
        let low = value as u8 & 0x7f;
        value >>= 7;
        *byte = if value == 0 { low } else { low | 0x80 };
    }
}

// `KeyValue`: 1 key, 2 value (AnyValue, always present).

fn write_key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    let value_len = scalar_len(value);
    write_len(
        buf,
        field,
        str_len(1, key.as_bytes()) + len_field(2, value_len),
    );
    write_str(buf, 1, key.as_bytes());
    write_len(buf, 2, value_len);
    write_scalar(buf, value);
}

fn write_attributes(buf: &mut Vec<u8>, field: u32, attributes: &[KeyValue]) {
    for kv in attributes {
        write_key_value(buf, field, kv.key.as_str(), &kv.value);
    }
}

/// `Span.flags` as the OTLP exporter sets it: the W3C trace flags, plus "the parent's remoteness
/// is known" and, when it is, "the parent is remote".
fn span_flags(trace_flags: u8, parent_is_remote: bool) -> u32 {
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    u32::from(trace_flags) | HAS_IS_REMOTE | if parent_is_remote { IS_REMOTE } else { 0 }
}

fn kind_number(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `Status`: 2 message, 3 code (0 unset, 1 ok, 2 error).
fn status_parts(status: &Status) -> (u64, &str) {
    match status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, description.as_ref()),
    }
}

// `Span.Event`: 1 time (fixed64), 2 name, 3 attributes, 4 dropped attributes.
fn write_event(buf: &mut Vec<u8>, event: &opentelemetry::trace::Event) {
    write_message(buf, 11, 1, |buf| {
        write_fixed64(buf, 1, nanos(event.timestamp));
        write_str(buf, 2, event.name.as_bytes());
        write_attributes(buf, 3, &event.attributes);
        write_uint(buf, 4, u64::from(event.dropped_attributes_count));
    });
}

// `Span.Link`: 1 trace id, 2 span id, 3 trace state, 4 attributes, 5 dropped attributes,
// 6 flags (fixed32).
fn write_link(buf: &mut Vec<u8>, link: &opentelemetry::trace::Link) {
    let context = &link.span_context;
    write_message(buf, 13, 1, |buf| {
        write_str(buf, 1, &context.trace_id().to_bytes());
        write_str(buf, 2, &context.span_id().to_bytes());
        write_str(buf, 3, context.trace_state().header().as_bytes());
        write_attributes(buf, 4, &link.attributes);
        write_uint(buf, 5, u64::from(link.dropped_attributes_count));
        write_fixed32(
            buf,
            6,
            span_flags(context.trace_flags().to_u8(), context.is_remote()),
        );
    });
}

// `Span`: 1 trace id, 2 span id, 3 trace state, 4 parent span id, 5 name, 6 kind, 7 start
// (fixed64), 8 end (fixed64), 9 attributes, 10 dropped attributes, 11 events, 12 dropped events,
// 13 links, 14 dropped links, 15 status (always present), 16 flags (fixed32). Fields are written
// in field-number order, as prost writes them, so the bytes are the OTLP exporter's bytes. A
// span's length nearly always takes two bytes (128 bytes to 16 KiB).
fn write_span(buf: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    write_message(buf, 2, 2, |buf| {
        write_str(buf, 1, &context.trace_id().to_bytes());
        write_str(buf, 2, &context.span_id().to_bytes());
        write_str(buf, 3, context.trace_state().header().as_bytes());
        if span.parent_span_id != SpanId::INVALID {
            write_str(buf, 4, &span.parent_span_id.to_bytes());
        }
        write_str(buf, 5, span.name.as_bytes());
        write_uint(buf, 6, kind_number(&span.span_kind));
        write_fixed64(buf, 7, nanos(span.start_time));
        write_fixed64(buf, 8, nanos(span.end_time));
        write_attributes(buf, 9, &span.attributes);
        write_uint(buf, 10, u64::from(span.dropped_attributes_count));
        for event in span.events.iter() {
            write_event(buf, event);
        }
        write_uint(buf, 12, u64::from(span.events.dropped_count));
        for link in span.links.iter() {
            write_link(buf, link);
        }
        write_uint(buf, 14, u64::from(span.links.dropped_count));
        let (code, message) = status_parts(&span.status);
        write_message(buf, 15, 1, |buf| {
            write_str(buf, 2, message.as_bytes());
            write_uint(buf, 3, code);
        });
        write_fixed32(
            buf,
            16,
            span_flags(context.trace_flags().to_u8(), span.parent_span_is_remote),
        );
    });
}

// `InstrumentationScope`: 1 name, 2 version, 3 attributes, 4 dropped attributes.
fn write_scope(buf: &mut Vec<u8>, scope: &InstrumentationScope) {
    write_message(buf, 1, 1, |buf| {
        write_str(buf, 1, scope.name().as_bytes());
        write_str(buf, 2, scope.version().unwrap_or_default().as_bytes());
        for kv in scope.attributes() {
            write_key_value(buf, 3, kv.key.as_str(), &kv.value);
        }
    });
}

/// Bytes per span a batch is first given room for; a span of a traced MCP request with its
/// conventions' attributes takes 200 to 500.
const SPAN_BYTES_GUESS: usize = 512;

/// Encodes `spans` as one `ExportTraceServiceRequest`: one `ResourceSpans` with `resource`, and
/// one `ScopeSpans` per instrumentation scope, in the order the scopes first appear.
pub(crate) fn encode_request(spans: &[SpanData], resource: &EncodedResource) -> Vec<u8> {
    // A batch nearly always holds one scope; a linear search beats hashing scopes.
    let mut groups: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
    for span in spans {
        let scope = &span.instrumentation_scope;
        match groups.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, members)) => members.push(span),
            None => groups.push((scope, vec![span])),
        }
    }
    let mut buf = Vec::with_capacity(
        resource.body.len() + resource.schema_url.len() + 64 + spans.len() * SPAN_BYTES_GUESS,
    );
    // `ResourceSpans`: 1 resource (always present), 2 scope spans, 3 schema URL; `ScopeSpans`:
    // 1 scope (always present), 2 spans, 3 schema URL. A batch's length takes three bytes from
    // 16 KiB to 2 MiB.
    write_message(&mut buf, 1, 3, |buf| {
        write_len(buf, 1, resource.body.len());
        buf.extend_from_slice(&resource.body);
        for (scope, members) in &groups {
            write_message(buf, 2, 3, |buf| {
                write_scope(buf, scope);
                for span in members {
                    write_span(buf, span);
                }
                write_str(buf, 3, scope.schema_url().unwrap_or_default().as_bytes());
            });
        }
        write_str(buf, 3, resource.schema_url.as_bytes());
    });
    buf
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{
        Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
    use prost::Message as _;

    use super::{EncodedResource, encode_request};

    fn every_value() -> Vec<KeyValue> {
        vec![
            KeyValue::new("bool.true", true),
            KeyValue::new("bool.false", false),
            KeyValue::new("int.zero", 0_i64),
            KeyValue::new("int.negative", -42_i64),
            KeyValue::new("int.max", i64::MAX),
            KeyValue::new("double", 1.5_f64),
            KeyValue::new("double.zero", 0.0_f64),
            KeyValue::new("string", "tools/call get_firewall_rule"),
            KeyValue::new("string.empty", ""),
            KeyValue::new("string.unicode", "règle ✓"),
            KeyValue::new("", "empty key"),
            KeyValue::new("array.bool", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("array.int", Value::Array(Array::I64(vec![1, -1, 0]))),
            KeyValue::new("array.double", Value::Array(Array::F64(vec![0.25]))),
            KeyValue::new(
                "array.string",
                Value::Array(Array::String(vec![
                    StringValue::from("a"),
                    StringValue::from(""),
                ])),
            ),
            KeyValue::new("array.empty", Value::Array(Array::I64(Vec::new()))),
            KeyValue::new("long", "x".repeat(300)),
        ]
    }

    fn context(
        trace: u128,
        span: u64,
        flags: TraceFlags,
        remote: bool,
        state: &str,
    ) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            flags,
            remote,
            TraceState::from_key_value(
                state
                    .split(',')
                    .filter(|kv| !kv.is_empty())
                    .filter_map(|kv| kv.split_once('=')),
            )
            .unwrap(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        name: &'static str,
        kind: SpanKind,
        parent: u64,
        parent_remote: bool,
        status: Status,
        scope: &InstrumentationScope,
        attributes: Vec<KeyValue>,
        events: Vec<Event>,
        links: Vec<Link>,
    ) -> SpanData {
        let start = std::time::UNIX_EPOCH + Duration::from_nanos(1_764_700_000_123_456_789);
        SpanData {
            span_context: context(
                0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
                0xb7ad_6b71_6920_3331 ^ name.len() as u64,
                TraceFlags::SAMPLED,
                false,
                "vendor=value,other=1",
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: parent_remote,
            span_kind: kind,
            name: Cow::Borrowed(name),
            start_time: start,
            end_time: start + Duration::from_micros(250),
            attributes,
            dropped_attributes_count: 3,
            events: {
                let mut all = SpanEvents::default();
                all.events = events;
                all.dropped_count = 1;
                all
            },
            links: {
                let mut all = SpanLinks::default();
                all.links = links;
                all.dropped_count = 2;
                all
            },
            status,
            instrumentation_scope: scope.clone(),
        }
    }

    fn batch() -> (Vec<SpanData>, Resource) {
        let ours = InstrumentationScope::builder("mcp-otel")
            .with_version("0.1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
            .with_attributes([KeyValue::new("scope.attr", 7_i64)])
            .build();
        let bare = InstrumentationScope::builder("other").build();
        let event = Event::new(
            "authorization decision",
            std::time::UNIX_EPOCH + Duration::from_secs(1_764_700_000),
            vec![KeyValue::new("auth.decision", "allow")],
            4,
        );
        let link = Link::new(
            context(7, 9, TraceFlags::default(), true, "k=v"),
            vec![KeyValue::new("link.attr", "x")],
            5,
        );
        let local_link = Link::new(
            context(8, 10, TraceFlags::SAMPLED, false, ""),
            Vec::new(),
            0,
        );
        let spans = vec![
            span(
                "tools/call get_firewall_rule",
                SpanKind::Server,
                0x1111,
                true,
                Status::error("upstream said no"),
                &ours,
                every_value(),
                vec![
                    event.clone(),
                    Event::new("", std::time::UNIX_EPOCH, vec![], 0),
                ],
                vec![link, local_link],
            ),
            span(
                "cache.read",
                SpanKind::Internal,
                0,
                false,
                Status::Unset,
                &ours,
                vec![KeyValue::new("cache.hit", true)],
                Vec::new(),
                Vec::new(),
            ),
            span(
                "GET",
                SpanKind::Client,
                0x2222,
                false,
                Status::Ok,
                &bare,
                Vec::new(),
                vec![event],
                Vec::new(),
            ),
            span(
                "p",
                SpanKind::Producer,
                0,
                false,
                Status::error(""),
                &ours,
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
            span(
                "c",
                SpanKind::Consumer,
                0,
                false,
                Status::Unset,
                &bare,
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
        ];
        let resource = Resource::builder_empty()
            .with_schema_url(
                [KeyValue::new("service.name", "mcp-patterns-example")],
                "https://opentelemetry.io/schemas/1.30.0",
            )
            .with_attributes([
                KeyValue::new("service.version", "0.1.0"),
                KeyValue::new("deployment.replicas", 3_i64),
            ])
            .build();
        (spans, resource)
    }

    fn reference(spans: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(resource),
            ),
        }
    }

    #[test]
    fn encodes_the_same_message_as_the_otlp_exporter() {
        let (spans, resource) = batch();
        let ours = encode_request(&spans, &EncodedResource::new(&resource));
        let expected = reference(spans, &resource);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).expect("valid protobuf");
        assert_eq!(decoded, expected);
        // Same message, and no bytes beyond it: the lengths agree too.
        assert_eq!(ours.len(), expected.encoded_len());
        assert_eq!(decoded.resource_spans[0].scope_spans.len(), 2);
        assert_eq!(ours, expected.encode_to_vec(), "byte for byte");
    }

    #[test]
    fn encodes_an_empty_batch_and_an_empty_resource() {
        let ours = encode_request(&[], &EncodedResource::default());
        let expected = reference(Vec::new(), &Resource::builder_empty().build());
        assert_eq!(
            ExportTraceServiceRequest::decode(ours.as_slice()).unwrap(),
            expected
        );
        assert_eq!(ours.len(), expected.encoded_len());
    }

    /// Every length the one-pass writer reserves is too long or too short in some batch; the
    /// bytes stay the canonical ones either way.
    #[test]
    fn lengths_of_every_size_are_written_in_their_shortest_form() {
        let scope = InstrumentationScope::builder("mcp-otel").build();
        let bare = |name: &'static str, attributes: Vec<KeyValue>| {
            let mut span = span(
                name,
                SpanKind::Internal,
                0,
                false,
                Status::Unset,
                &scope,
                attributes,
                Vec::new(),
                Vec::new(),
            );
            span.span_context = context(1, 2, TraceFlags::SAMPLED, false, "");
            span.dropped_attributes_count = 0;
            span.events.dropped_count = 0;
            span.links.dropped_count = 0;
            span
        };
        let text = |len: usize| KeyValue::new("value", "x".repeat(len));
        let cases = [
            // A span under 128 bytes (one length byte, not the two reserved) in a batch under
            // 16 KiB (two, not three).
            vec![bare("s", Vec::new())],
            // A span whose length takes the two bytes reserved, and one just over 16 KiB (three).
            vec![
                bare("a", vec![text(110), text(128)]),
                bare("b", vec![text(16_400)]),
            ],
            // A batch over 2 MiB (four length bytes).
            vec![bare("big", vec![text(2_200_000)])],
        ];
        let resource = Resource::builder_empty().build();
        for spans in cases {
            let ours = encode_request(&spans, &EncodedResource::new(&resource));
            let expected = reference(spans, &resource);
            assert_eq!(ours, expected.encode_to_vec(), "byte for byte");
        }
    }

    #[test]
    fn a_span_before_the_epoch_gets_time_zero_like_the_otlp_exporter() {
        let (mut spans, resource) = batch();
        spans.truncate(1);
        spans[0].start_time = std::time::UNIX_EPOCH - Duration::from_secs(1);
        let ours = encode_request(&spans, &EncodedResource::new(&resource));
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).unwrap();
        assert_eq!(
            decoded.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano,
            0
        );
        assert_eq!(decoded, reference(spans, &resource));
    }
}
