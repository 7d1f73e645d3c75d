//! RFC 9728 OAuth 2.0 Protected Resource Metadata, served at
//! `/.well-known/oauth-protected-resource`.

use axum::Router;
use axum::routing::get;

/// The protected-resource metadata document (RFC 9728 §2) an MCP client reads to find the
/// authorization server for this server.
///
/// ```
/// use mcp_authz::ProtectedResourceMetadata;
///
/// let metadata = ProtectedResourceMetadata::new("https://mcp.example.com/mcp")
///     .authorization_server("https://idp.example.com")
///     .scopes(["mcp:access", "firewall:read"]);
/// assert_eq!(
///     metadata.metadata_url(),
///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// // `metadata.router()` serves the document; merge it next to the MCP endpoint.
/// let app: axum::Router = metadata.router();
/// # let _ = app;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: the MCP endpoint's URL (also the expected token audience).
    pub resource: String,
    /// Issuer URLs of the authorization servers that issue tokens for this resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// Scopes this resource understands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens are sent: `["header"]` (`Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A page documenting the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// The well-known path segment of RFC 9728 §3.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

impl ProtectedResourceMetadata {
    /// Metadata for the resource at `resource` (an absolute URL), bearer tokens in the header.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
            resource_documentation: None,
        }
    }

    /// Adds an authorization server (its issuer URL).
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Adds supported scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Sets the human-readable name.
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `(origin, path)` of the resource URL, e.g. `("https://h", "/mcp")`.
    fn split(&self) -> (&str, &str) {
        let url = self.resource.as_str();
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        match url[after_scheme..].find('/') {
            Some(i) => url.split_at(after_scheme + i),
            None => (url, ""),
        }
    }

    /// The path the document is served at per RFC 9728 §3.1: the well-known prefix followed by
    /// the resource's path (`/.well-known/oauth-protected-resource/mcp`).
    pub fn well_known_path(&self) -> String {
        let path = self.split().1.trim_end_matches('/');
        format!("{WELL_KNOWN_PATH}{path}")
    }

    /// The absolute URL of the document, for the `resource_metadata` parameter of
    /// `WWW-Authenticate` (pass it to [`AuthLayer::resource_metadata`](crate::AuthLayer::resource_metadata)).
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.split().0, self.well_known_path())
    }

    /// An axum router serving the document as JSON at [`Self::well_known_path`] and, when that
    /// differs, at the bare `/.well-known/oauth-protected-resource` too. Merge it *outside*
    /// the authentication layer: the document is public.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let doc = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        let handler = move || {
            let doc = doc.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], doc) }
        };
        let path = self.well_known_path();
        let mut router = Router::new().route(&path, get(handler.clone()));
        if path != WELL_KNOWN_PATH {
            router = router.route(WELL_KNOWN_PATH, get(handler));
        }
        router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let root = ProtectedResourceMetadata::new("http://127.0.0.1:8080");
        assert_eq!(root.well_known_path(), WELL_KNOWN_PATH);
        assert_eq!(
            root.metadata_url(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
        let nested = ProtectedResourceMetadata::new("http://h:1/a/mcp/");
        assert_eq!(
            nested.metadata_url(),
            "http://h:1/.well-known/oauth-protected-resource/a/mcp"
        );
        let json = serde_json::to_value(nested.authorization_server("http://idp")).unwrap();
        assert_eq!(json["authorization_servers"][0], "http://idp");
        assert_eq!(json["bearer_methods_supported"][0], "header");
        assert!(json.get("scopes_supported").is_none());
    }
}
