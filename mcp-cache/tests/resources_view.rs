//! `CacheResources` without a transport: what it lists and reads before the first fetch
//! (degrade policy), and a hand-written `ResourceView` with a non-JSON mime type.
#![cfg(feature = "rmcp")]

mod common;

use std::time::Duration;

use common::{Mode, Scripted, map};
use mcp_cache::{
    Backoff, Cache, CacheConfig, CacheResources, InitialFetch, JsonView, ResourceError,
    ResourceView, Viewer,
};
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};

#[tokio::test(start_paused = true)]
async fn before_the_first_fetch_only_health_is_listed_and_reads_say_not_ready() {
    let fetcher = Scripted::new(Mode::Fail);
    let cache = Cache::builder(fetcher.clone())
        .config(
            CacheConfig::default()
                .initial_fetch(InitialFetch::Degrade)
                .failure_backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1))),
        )
        .build()
        .await
        .expect("degrade");
    let resources = CacheResources::builder(cache.clone(), JsonView::map("cache://data"))
        .health_uri("cache://meta/rules-health")
        .build();

    let uris: Vec<String> = resources
        .resources(Viewer::Server)
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(uris, ["cache://meta/rules-health"]);
    let error = resources
        .read("cache://data", Viewer::Server)
        .expect_err("no data yet");
    assert!(matches!(error, ResourceError::NotReady), "{error:?}");
    assert!(error.to_string().contains("not available yet"));
    let health = resources
        .read("cache://meta/rules-health", Viewer::Server)
        .expect("health");
    let ResourceContents::TextResourceContents { text, .. } = &health.contents[0] else {
        panic!("text")
    };
    let health: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(health["ready"], false);
    assert!(matches!(
        resources.read("cache://meta/health", Viewer::Server),
        Err(ResourceError::NotFound { .. })
    ));

    fetcher.set(Mode::Data(map(1, 2)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let uris: Vec<String> = resources
        .resources(Viewer::Server)
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(
        uris,
        [
            "cache://data",
            "cache://data/a",
            "cache://data/b",
            "cache://meta/rules-health"
        ]
    );
    cache.shutdown().await;
}

/// A view serving each value as plain text under `numbers://{key}`.
struct TextView;

impl ResourceView<std::collections::HashMap<String, u64>> for TextView {
    fn resources(
        &self,
        data: &std::collections::HashMap<String, u64>,
        _: Viewer<'_>,
    ) -> Vec<Resource> {
        let mut keys: Vec<&String> = data.keys().collect();
        keys.sort();
        keys.into_iter()
            .map(|k| {
                Resource::new(format!("numbers://{k}"), k.clone()).with_mime_type("text/plain")
            })
            .collect()
    }
    fn templates(&self, _: Viewer<'_>) -> Vec<ResourceTemplate> {
        vec![ResourceTemplate::new("numbers://{key}", "number")]
    }
    fn owns(&self, uri: &str) -> bool {
        uri.starts_with("numbers://")
    }
    fn read(
        &self,
        data: &std::collections::HashMap<String, u64>,
        uri: &str,
        _: Viewer<'_>,
    ) -> Result<ResourceContents, ResourceError> {
        let key = uri.strip_prefix("numbers://").unwrap_or_default();
        data.get(key)
            .map(|v| ResourceContents::text(v.to_string(), uri))
            .ok_or_else(|| ResourceError::NotFound {
                uri: uri.to_owned(),
            })
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_view_sets_its_own_uris_and_mime_type() {
    let cache = Cache::builder(Scripted::new(Mode::Data(map(4, 5))))
        .config(CacheConfig::default().background_refresh(false))
        .build()
        .await
        .expect("ready");
    let resources = CacheResources::builder(cache, TextView)
        .without_health()
        .build();
    let listed: Vec<(String, Option<String>)> = resources
        .resources(Viewer::Server)
        .into_iter()
        .map(|r| (r.uri, r.mime_type))
        .collect();
    assert_eq!(
        listed,
        [
            ("numbers://a".to_owned(), Some("text/plain".to_owned())),
            ("numbers://b".to_owned(), Some("text/plain".to_owned()))
        ]
    );
    let read = resources.read("numbers://b", Viewer::Server).expect("read");
    let ResourceContents::TextResourceContents {
        text, mime_type, ..
    } = &read.contents[0]
    else {
        panic!("text")
    };
    assert_eq!(
        (text.as_str(), mime_type.as_deref()),
        ("5", Some("text/plain"))
    );
    assert!(read.ttl_ms.is_some(), "ttl hints are on by default");
    assert!(matches!(
        resources.read("numbers://zzz", Viewer::Server),
        Err(ResourceError::NotFound { .. })
    ));
    assert!(!resources.owns("cache://meta/health"), "no health resource");
}
