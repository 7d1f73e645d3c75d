//! A `tracing` layer that records every span (with its fields as they are recorded) and event.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

type Spans = Arc<Mutex<Vec<(u64, String, HashMap<String, String>)>>>;

/// Records every span and event of the subscriber it is layered into; clones share the record.
#[derive(Clone, Default)]
pub struct Capture {
    spans: Spans,
    events: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.spans.lock().expect("capture lock").push((
            id.into_u64(),
            attrs.metadata().name().to_owned(),
            fields,
        ));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().expect("capture lock");
        if let Some((_, _, fields)) = spans.iter_mut().rev().find(|(i, _, _)| *i == id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().expect("capture lock").push(fields);
    }
}

impl Capture {
    /// The fields of every span called `name`, in creation order.
    pub fn spans_named(&self, name: &str) -> Vec<HashMap<String, String>> {
        self.spans
            .lock()
            .expect("capture lock")
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(_, _, f)| f.clone())
            .collect()
    }

    /// The fields of every event recorded (its message under `message`).
    pub fn events(&self) -> Vec<HashMap<String, String>> {
        self.events.lock().expect("capture lock").clone()
    }

    /// Whether any span field or event field contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        let in_spans = self
            .spans
            .lock()
            .expect("capture lock")
            .iter()
            .any(|(_, _, f)| f.values().any(|v| v.contains(needle)));
        let in_events = self
            .events
            .lock()
            .expect("capture lock")
            .iter()
            .any(|f| f.values().any(|v| v.contains(needle)));
        in_spans || in_events
    }
}
