//! The `cache.refresh` and `cache.read` spans carry the attributes the cache documents.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{Mode, Scripted, map};
use mcp_cache::{Cache, CacheConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

type Spans = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// Records every span's name and fields (at creation and later `record` calls).
#[derive(Clone, Default)]
struct Recorder {
    spans: Spans,
    ids: Arc<Mutex<HashMap<u64, usize>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields));
        self.ids
            .lock()
            .unwrap()
            .insert(id.into_u64(), spans.len() - 1);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(&index) = self.ids.lock().unwrap().get(&id.into_u64()) {
            values.record(&mut Fields(&mut self.spans.lock().unwrap()[index].1));
        }
    }
}

fn find(spans: &Spans, name: &str) -> Vec<HashMap<String, String>> {
    spans
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, f)| f.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn refresh_and_read_spans_carry_their_attributes() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(
            CacheConfig::default()
                .name("rules")
                .background_refresh(false),
        )
        .item_count(HashMap::len)
        .build()
        .await
        .expect("first fetch");
    fetcher.set(Mode::Fail);
    cache.refresh_now().await.expect_err("fails");
    assert_eq!(cache.get("a").unwrap(), 1);
    assert!(cache.lookup("zzz").unwrap().is_none());

    let refreshes = find(&recorder.spans, "cache.refresh");
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0]["cache.name"], "rules");
    assert_eq!(refreshes[0]["cache.outcome"], "success");
    assert_eq!(refreshes[0]["cache.items"], "2");
    assert_eq!(refreshes[0]["cache.generation"], "1");
    assert!(refreshes[0].contains_key("cache.duration_seconds"));
    assert_eq!(refreshes[1]["cache.outcome"], "failure");
    assert_eq!(refreshes[1]["error.type"], "fetch");
    assert_eq!(refreshes[1]["cache.generation"], "1");

    let reads = find(&recorder.spans, "cache.read");
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[0]["cache.hit"], "true");
    assert_eq!(reads[1]["cache.hit"], "false");
    assert!(reads[0].contains_key("cache.age_seconds"));
    assert_eq!(reads[0]["cache.generation"], "1");
    assert_eq!(reads[0]["cache.stale"], "false");
}
