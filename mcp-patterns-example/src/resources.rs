//! The firewall data as MCP resources, served by mcp-cache's [`CacheResourcesLayer`] around
//! the tools, per caller:
//!
//! - `cache://firewalls`: the rules of every application the caller may read;
//! - `cache://firewalls/{app}` (listed per application, and a template): one application's
//!   rules, for an application the caller may read; any other answers exactly like a missing
//!   one;
//! - `cache://meta/health`: the health of the cache the caller reads from.
//!
//! Reads and lists carry `ttlMs`, the time until the caller's cache refreshes next. A client
//! subscribes to `cache://firewalls/{app}` for an application it may read — a legacy session
//! with `resources/subscribe`, a 2026-07-28 client with a `subscriptions/listen` stream — and is
//! told of every refresh that changes that application's rules (on this replica or, with
//! `--redis-url`, a new generation another replica wrote). Nothing is ever sent for an
//! application the subscriber may not read. `cache://firewalls` cannot be subscribed to: it
//! changes with every application's data, including applications the caller may not see, and
//! its updates would tell them when those change. For the same reason no list-changed
//! notifications are offered.
//!
//! In the server and hybrid scopes one component watches the shared snapshot; in the session
//! scope each user's cache has its own, kept in a bounded map and rebuilt with the user's cache.

use std::time::Duration;

use mcp_cache::{
    CacheResources, CacheResourcesLayer, JSON_MIME, ResourceError, ResourceView, Viewer,
};
use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use rmcp::service::{RequestContext, RoleServer};

use crate::ExampleError;
use crate::access::Caller;
use crate::data::{FirewallCache, FirewallData, UserKey};
use crate::model::validate_app_name;
use crate::server::{CallerSource, FirewallRuleList};

/// URI of the caller's whole rule set.
pub const FIREWALLS_URI: &str = "cache://firewalls";
/// URI template of one application's rules.
pub const FIREWALL_TEMPLATE: &str = "cache://firewalls/{app}";
/// URI of the cache health resource.
pub const HEALTH_URI: &str = "cache://meta/health";

/// At most this many users' components are kept in the session scope (the least recently
/// used go first, their subscribers with them)...
const USER_COMPONENTS_MAX: u64 = 4096;
/// ...and a component nobody read, subscribed or listened through for this long is dropped.
const USER_COMPONENTS_IDLE: Duration = Duration::from_secs(30 * 60);

/// The application of a `cache://firewalls/{app}` URI with a valid name; `None` otherwise.
fn app_of(uri: &str) -> Option<&str> {
    uri.strip_prefix(FIREWALLS_URI)?
        .strip_prefix('/')
        .filter(|app| validate_app_name(app).is_ok())
}

/// Whether `caller` may subscribe to `uri`: one of their applications'
/// `cache://firewalls/{app}`. What the listen filter in front of the server asks.
pub fn subscribable(caller: &Caller, uri: &str) -> bool {
    app_of(uri).is_some_and(|app| caller.allows(app, crate::access::READ))
}

fn json(uri: &str, value: &impl serde::Serialize) -> Result<ResourceContents, ResourceError> {
    let text = serde_json::to_string(value).map_err(|e| ResourceError::Render {
        uri: uri.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(ResourceContents::text(text, uri).with_mime_type(JSON_MIME))
}

/// The firewall snapshot as resources, rendered for each caller: the view finds the caller of
/// a request as the tools do ([`CallerSource`]), and answers only with their applications.
struct FirewallView {
    callers: CallerSource,
}

impl FirewallView {
    /// The caller a viewer stands for: `None` for the component itself (which sees everything,
    /// for change detection) and for a request without a caller (which sees nothing).
    fn caller(&self, viewer: Viewer<'_>) -> Option<Caller> {
        viewer
            .context()
            .and_then(|context| self.callers.data_caller(context).ok())
    }

    fn may_read(&self, viewer: Viewer<'_>, app: &str) -> bool {
        viewer.is_server()
            || self
                .caller(viewer)
                .is_some_and(|caller| caller.allows(app, crate::access::READ))
    }
}

impl ResourceView<FirewallData> for FirewallView {
    fn resources(&self, data: &FirewallData, viewer: Viewer<'_>) -> Vec<Resource> {
        let caller = self.caller(viewer);
        if caller.is_none() && !viewer.is_server() {
            return Vec::new();
        }
        let whole = Resource::new(FIREWALLS_URI, "firewalls")
            .with_description("The firewall rules of every application you are entitled to")
            .with_mime_type(JSON_MIME);
        let apps: Vec<&String> = match &caller {
            Some(caller) => caller.readable(data.keys(), |app| app),
            None => data.keys().collect(),
        };
        std::iter::once(whole)
            .chain(apps.into_iter().map(|app| {
                Resource::new(format!("{FIREWALLS_URI}/{app}"), app.clone())
                    .with_description("The firewall rules of one application")
                    .with_mime_type(JSON_MIME)
            }))
            .collect()
    }

    fn templates(&self, _viewer: Viewer<'_>) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new(FIREWALL_TEMPLATE, "firewall")
                .with_description("The firewall rules of one application you are entitled to")
                .with_mime_type(JSON_MIME),
        ]
    }

    fn owns(&self, uri: &str) -> bool {
        uri == FIREWALLS_URI || uri.starts_with("cache://firewalls/")
    }

    fn read(
        &self,
        data: &FirewallData,
        uri: &str,
        viewer: Viewer<'_>,
    ) -> Result<ResourceContents, ResourceError> {
        let not_found = || ResourceError::NotFound {
            uri: uri.to_owned(),
        };
        if uri == FIREWALLS_URI {
            let apps = match self.caller(viewer) {
                Some(caller) => caller.readable(data.values(), |app| &app.app_name),
                None if viewer.is_server() => data.values().collect(),
                None => return Err(not_found()),
            };
            let list = FirewallRuleList {
                apps: apps.into_iter().cloned().collect(),
                change_requests: None,
            };
            return json(uri, &list);
        }
        // Another application's URI, an invalid name and a missing application answer alike.
        let app = app_of(uri).ok_or_else(not_found)?;
        if !self.may_read(viewer, app) {
            return Err(not_found());
        }
        json(uri, data.get(app).ok_or_else(not_found)?)
    }

    fn subscription_refused(&self, uri: &str) -> Option<String> {
        (uri == FIREWALLS_URI).then(|| {
            format!(
                "{FIREWALLS_URI} cannot be subscribed to; subscribe to {FIREWALL_TEMPLATE} for \
                 each of your applications"
            )
        })
    }

    fn readable(&self, data: Option<&FirewallData>, uri: &str, viewer: Viewer<'_>) -> bool {
        // Only single applications the viewer may read, and that exist.
        app_of(uri).is_some_and(|app| {
            self.may_read(viewer, app) && data.is_none_or(|data| data.contains_key(app))
        })
    }
}

/// A component serving `cache` through the firewall view, with the health resource.
fn component(
    cache: mcp_cache::Cache<FirewallData>,
    callers: &CallerSource,
) -> CacheResources<FirewallData> {
    CacheResources::builder(
        cache,
        FirewallView {
            callers: callers.clone(),
        },
    )
    .health_uri(HEALTH_URI)
    .list_changed(false)
    .build()
}

/// The layer serving `data` as resources to the callers `callers` finds: one component over
/// the shared snapshot (server and hybrid scopes), or one per user cache (session scope).
/// Must be called within a tokio runtime.
pub fn layer(data: &FirewallCache, callers: &CallerSource) -> CacheResourcesLayer<FirewallData> {
    if let Some(cache) = data.shared() {
        return CacheResourcesLayer::new(component(cache.clone(), callers));
    }
    let components: moka::sync::Cache<UserKey, CacheResources<FirewallData>> =
        moka::sync::Cache::builder()
            .max_capacity(USER_COMPONENTS_MAX)
            .time_to_idle(USER_COMPONENTS_IDLE)
            .build();
    let data = data.clone();
    let callers = callers.clone();
    let owns = |uri: &str| {
        uri == HEALTH_URI || uri == FIREWALLS_URI || uri.starts_with("cache://firewalls/")
    };
    let layer =
        CacheResourcesLayer::per_caller(owns, move |context: &RequestContext<RoleServer>| {
            let caller = callers.data_caller(context);
            let (data, callers, components) = (data.clone(), callers.clone(), components.clone());
            async move {
                let caller = caller.map_err(ExampleError::into_error_data)?;
                let cache = data
                    .user_cache(&caller)
                    .await
                    .map_err(ExampleError::into_error_data)?
                    .ok_or_else(|| ErrorData::internal_error("no per-user cache", None))?;
                let key = UserKey::of(&caller);
                let found = components.get_with(key.clone(), || component(cache.clone(), &callers));
                if found.cache().ptr_eq(&cache) {
                    return Ok(found);
                }
                // The user's cache was evicted and rebuilt since: watch the new one.
                components.invalidate(&key);
                Ok(components.get_with(key, || component(cache, &callers)))
            }
        });
    layer.list_changed(false)
}
