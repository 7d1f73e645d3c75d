//! The fixture's resources: a static text, a static binary, a watched resource for
//! subscriptions and the template `test://template/{id}/data`.

use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

use super::FixtureError;
use super::content::PNG_1X1_BASE64;

const STATIC_TEXT: &str = "test://static-text";
const STATIC_BINARY: &str = "test://static-binary";
/// The resource clients subscribe to.
pub(super) const WATCHED: &str = "test://watched-resource";
const TEMPLATE: &str = "test://template/{id}/data";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// The direct resources (the template is listed by [`templates`]).
pub(super) fn list() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT, "static-text")
            .with_title("Static Text Resource")
            .with_description("A static text resource for testing")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY, "static-binary")
            .with_title("Static Binary Resource")
            .with_description("A static binary resource (a 1x1 PNG) for testing")
            .with_mime_type("image/png"),
        Resource::new(WATCHED, "watched-resource")
            .with_title("Watched Resource")
            .with_description("A resource to subscribe to with resources/subscribe")
            .with_mime_type("text/plain"),
    ]
}

/// The resource templates.
pub(super) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE, "template")
            .with_title("Resource Template")
            .with_description("A resource template with parameter substitution")
            .with_mime_type("application/json"),
    ]
}

/// Reads `uri`: one of the direct resources or an instance of the template.
pub(super) fn read(uri: &str) -> Result<ReadResourceResult, FixtureError> {
    let contents = match uri {
        STATIC_TEXT => {
            ResourceContents::text("This is the content of the static text resource.", uri)
        }
        STATIC_BINARY => ResourceContents::blob(PNG_1X1_BASE64, uri).with_mime_type("image/png"),
        WATCHED => ResourceContents::text("Watched resource content", uri),
        _ => {
            let id = template_id(uri).ok_or_else(|| FixtureError::UnknownResource {
                uri: uri.to_owned(),
            })?;
            let body = serde_json::json!({
                "id": id,
                "templateTest": true,
                "data": format!("Data for ID: {id}"),
            });
            ResourceContents::text(body.to_string(), uri).with_mime_type("application/json")
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// Succeeds when `uri` names a resource [`read`] can answer.
pub(super) fn ensure_exists(uri: &str) -> Result<(), FixtureError> {
    read(uri).map(|_| ())
}

/// The `{id}` of a URI matching `test://template/{id}/data`: one non-empty path segment.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_matches_one_segment_only() {
        assert_eq!(template_id("test://template/123/data"), Some("123"));
        assert_eq!(template_id("test://template//data"), None);
        assert_eq!(template_id("test://template/1/2/data"), None);
        assert_eq!(template_id("test://template/123"), None);
    }

    #[test]
    fn unknown_uri_is_not_found() {
        assert!(matches!(
            read("test://nothing-here"),
            Err(FixtureError::UnknownResource { .. })
        ));
    }
}
