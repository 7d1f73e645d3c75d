//! The fixture's tools: one per content type, plus logging, progress, errors, sampling,
//! elicitation, SSE polling, a JSON Schema 2020-12 input schema and an argument mirrored in an
//! `Mcp-Param-*` header; with the multi round-trip tools ([`super::mrtr`]) and the list-change
//! triggers ([`super::changes`]).

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, CreateMessageRequestParams,
    ElicitRequestParams, ElicitationSchema, JsonObject, LoggingLevel, ProgressNotificationParam,
    ResourceContents, SamplingMessage, Tool,
};
use rmcp::object;
use rmcp::service::{ElicitationMode, RequestContext};
use rmcp::{Peer, RoleServer};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::content::{PNG_1X1_BASE64, WAV_BASE64};
use super::{ConformanceServer, FixtureError, changes, elicitation, mrtr};

/// Tool whose POST stream [`super::PollingSessionManager`] closes mid-call (SEP-1699).
pub(super) const RECONNECTION_TOOL: &str = "test_reconnection";

/// Tool whose `region` argument travels in the `Mcp-Param-Region` header too (SEP-2243).
const CUSTOM_HEADER_TOOL: &str = "test_custom_header";

/// Pause between the notifications of the logging and progress tools.
const STEP: Duration = Duration::from_millis(50);

/// Every tool the fixture offers (one declarative list; splitting it would only scatter it).
#[allow(clippy::too_many_lines)]
pub(super) fn list() -> Vec<Tool> {
    let no_arguments = || Arc::new(object!({ "type": "object", "properties": {} }));
    let mut tools = vec![
        Tool::new("test_simple_text", "Returns one text block", no_arguments()),
        Tool::new(
            "test_image_content",
            "Returns one PNG image block",
            no_arguments(),
        ),
        Tool::new(
            "test_audio_content",
            "Returns one WAV audio block",
            no_arguments(),
        ),
        Tool::new(
            "test_embedded_resource",
            "Returns one embedded text resource",
            no_arguments(),
        ),
        Tool::new(
            "test_multiple_content_types",
            "Returns a text, an image and an embedded resource block",
            no_arguments(),
        ),
        Tool::new(
            "test_tool_with_logging",
            "Sends three info log notifications while it runs",
            no_arguments(),
        ),
        Tool::new(
            "test_logging_tool",
            "Sends one info log notification: in protocol 2026-07-28 only when the request asks \
             for a log level in its _meta",
            no_arguments(),
        ),
        Tool::new(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100 to the caller's progress token",
            no_arguments(),
        ),
        Tool::new(
            "test_error_handling",
            "Always fails with a tool error (isError: true)",
            no_arguments(),
        ),
        Tool::new(
            RECONNECTION_TOOL,
            "Its SSE response stream is closed mid-call; the result arrives after the client \
             reconnects with Last-Event-ID (SEP-1699)",
            no_arguments(),
        ),
        Tool::new(
            "test_sampling",
            "Asks the client's LLM to answer a prompt (sampling/createMessage)",
            Arc::new(object!({
                "type": "object",
                "properties": {
                    "prompt": { "type": "string", "description": "The prompt to send to the LLM" }
                },
                "required": ["prompt"]
            })),
        ),
        Tool::new(
            "test_elicitation",
            "Asks the user for a username and an email (elicitation/create)",
            Arc::new(object!({
                "type": "object",
                "properties": {
                    "message": { "type": "string", "description": "The message to show the user" }
                },
                "required": ["message"]
            })),
        ),
        Tool::new(
            "test_elicitation_sep1034_defaults",
            "Elicits a form whose fields all have defaults (SEP-1034)",
            no_arguments(),
        ),
        Tool::new(
            "test_elicitation_sep1330_enums",
            "Elicits a form with the five enum shapes of SEP-1330",
            no_arguments(),
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool whose input schema uses JSON Schema 2020-12 keywords: $schema, $defs with an \
             $anchor, $ref, allOf/anyOf, if/then/else (SEP-1613, SEP-2106)",
            Arc::new(object!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "$anchor": "addressDef",
                        "type": "object",
                        "properties": {
                            "street": { "type": "string" },
                            "city": { "type": "string" }
                        }
                    }
                },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" },
                    "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                    "phone": { "type": "string" },
                    "email": { "type": "string" }
                },
                "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                "if": {
                    "properties": { "contactMethod": { "const": "phone" } },
                    "required": ["contactMethod"]
                },
                "then": { "required": ["phone"] },
                "else": { "required": ["email"] },
                "additionalProperties": false
            })),
        ),
        Tool::new(
            CUSTOM_HEADER_TOOL,
            "Echoes its region argument, which the client also sends in the Mcp-Param-Region \
             header; the server refuses a request whose header and argument differ (SEP-2243)",
            Arc::new(object!({
                "type": "object",
                "properties": {
                    "region": {
                        "type": "string",
                        "description": "The region, mirrored in the Mcp-Param-Region header",
                        "x-mcp-header": "Region"
                    }
                },
                "required": ["region"]
            })),
        ),
    ];
    tools.extend(mrtr::tools());
    tools.extend(changes::tools());
    tools
}

/// Runs the tool `request` names.
pub(super) async fn call(
    server: &ConformanceServer,
    request: CallToolRequestParams,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResult, FixtureError> {
    let name = request.name.as_ref();
    let arguments = request.arguments.unwrap_or_default();
    let result = match name {
        "test_simple_text" => success(ContentBlock::text(
            "This is a simple text response for testing.",
        )),
        "test_image_content" => success(ContentBlock::image(PNG_1X1_BASE64, "image/png")),
        "test_audio_content" => success(ContentBlock::audio(WAV_BASE64, "audio/wav")),
        "test_embedded_resource" => success(ContentBlock::resource(ResourceContents::text(
            "This is an embedded resource content.",
            "test://embedded-resource",
        ))),
        "test_multiple_content_types" => CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG_1X1_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    r#"{"test":"data","value":123}"#,
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ]),
        "test_tool_with_logging" => with_logging(server, &context).await,
        "test_logging_tool" => {
            server
                .log(&context, LoggingLevel::Info, "test_logging_tool was called")
                .await;
            success(ContentBlock::text(
                "Logged at info, if the caller asked for it",
            ))
        }
        "test_tool_with_progress" => with_progress(&context).await,
        "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )]),
        RECONNECTION_TOOL => {
            // Long enough for the transport to close the stream before the result is sent.
            tokio::time::sleep(2 * STEP).await;
            success(ContentBlock::text(
                "Reconnection test completed: the result was delivered after the stream closed.",
            ))
        }
        "test_sampling" => {
            let SamplingArgs { prompt } = parse_arguments(name, arguments)?;
            sampling(&context.peer, prompt).await?
        }
        "test_elicitation" => {
            let ElicitationArgs { message } = parse_arguments(name, arguments)?;
            elicit(
                &context.peer,
                "User response",
                message,
                elicitation::user_details()?,
            )
            .await?
        }
        "test_elicitation_sep1034_defaults" => {
            elicit(
                &context.peer,
                "Elicitation completed",
                "Please review and update the form fields with defaults".to_owned(),
                elicitation::sep1034_defaults()?,
            )
            .await?
        }
        "test_elicitation_sep1330_enums" => {
            elicit(
                &context.peer,
                "Elicitation completed",
                "Please select options from the enum fields".to_owned(),
                elicitation::sep1330_enums()?,
            )
            .await?
        }
        "json_schema_2020_12_tool" => {
            let args: SchemaToolArgs = parse_arguments(name, arguments)?;
            args.check()
                .map_err(|reason| FixtureError::InvalidArguments {
                    name: name.to_owned(),
                    source: serde::de::Error::custom(reason),
                })?;
            let echoed = serde_json::to_string(&args.echo()).unwrap_or_default();
            success(ContentBlock::text(format!(
                "JSON Schema 2020-12 tool called with: {echoed}"
            )))
        }
        CUSTOM_HEADER_TOOL => {
            let RegionArgs { region } = parse_arguments(name, arguments)?;
            success(ContentBlock::text(format!("Region: {region}")))
        }
        _ => {
            return Err(FixtureError::UnknownTool {
                name: name.to_owned(),
            });
        }
    };
    Ok(result)
}

fn success(block: ContentBlock) -> CallToolResult {
    CallToolResult::success(vec![block])
}

fn parse_arguments<T: DeserializeOwned>(
    name: &str,
    arguments: JsonObject,
) -> Result<T, FixtureError> {
    serde_json::from_value(serde_json::Value::Object(arguments)).map_err(|source| {
        FixtureError::InvalidArguments {
            name: name.to_owned(),
            source,
        }
    })
}

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize)]
struct SamplingArgs {
    prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize)]
struct ElicitationArgs {
    message: String,
}

/// Arguments of `test_custom_header`.
#[derive(Debug, Deserialize)]
struct RegionArgs {
    region: String,
}

/// Arguments of `json_schema_2020_12_tool`, as its schema defines them (no others allowed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SchemaToolArgs {
    name: Option<String>,
    address: Option<Address>,
    contact_method: Option<ContactMethod>,
    phone: Option<String>,
    email: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ContactMethod {
    Phone,
    Email,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Address {
    street: Option<String>,
    city: Option<String>,
}

impl SchemaToolArgs {
    /// The schema's `allOf` (a phone or an email) and `if`/`then`/`else` (the contact method
    /// given must be there; without one, an email).
    fn check(&self) -> Result<(), &'static str> {
        if self.phone.is_none() && self.email.is_none() {
            return Err("one of phone and email is required");
        }
        match self.contact_method {
            Some(ContactMethod::Phone) if self.phone.is_none() => {
                Err("contactMethod phone requires phone")
            }
            Some(ContactMethod::Phone) => Ok(()),
            _ if self.email.is_none() => Err("email is required unless contactMethod is phone"),
            _ => Ok(()),
        }
    }

    fn echo(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "address": self.address.as_ref().map(|a| serde_json::json!({
                "street": a.street,
                "city": a.city,
            })),
            "contactMethod": self.contact_method.map(|method| match method {
                ContactMethod::Phone => "phone",
                ContactMethod::Email => "email",
            }),
            "phone": self.phone,
            "email": self.email,
        })
    }
}

/// Three info log notifications, 50 ms apart.
async fn with_logging(
    server: &ConformanceServer,
    context: &RequestContext<RoleServer>,
) -> CallToolResult {
    server
        .log(context, LoggingLevel::Info, "Tool execution started")
        .await;
    tokio::time::sleep(STEP).await;
    server
        .log(context, LoggingLevel::Info, "Tool processing data")
        .await;
    tokio::time::sleep(STEP).await;
    server
        .log(context, LoggingLevel::Info, "Tool execution completed")
        .await;
    success(ContentBlock::text(
        "Tool with logging executed successfully",
    ))
}

/// Progress 0, 50, 100 of 100, 50 ms apart, to the caller's progress token if it sent one.
async fn with_progress(context: &RequestContext<RoleServer>) -> CallToolResult {
    let token = context.meta.get_progress_token();
    for (step, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if step > 0 {
            tokio::time::sleep(STEP).await;
        }
        if let Some(token) = &token {
            let notification = ProgressNotificationParam::new(token.clone(), progress)
                .with_total(100.0)
                .with_message(format!("Completed step {progress} of 100"));
            if let Err(error) = context.peer.notify_progress(notification).await {
                tracing::debug!(%error, "progress notification not delivered");
            }
        }
    }
    let text = match token {
        Some(token) => format!("Progress reported to token {}", token.0),
        None => {
            "Completed without progress reports: the request carried no progress token".to_owned()
        }
    };
    success(ContentBlock::text(text))
}

/// Sends `prompt` to the client's LLM and returns its text answer. A client without the
/// sampling capability gets a tool error saying so.
async fn sampling(peer: &Peer<RoleServer>, prompt: String) -> Result<CallToolResult, FixtureError> {
    let supports_sampling = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.sampling.is_some());
    if !supports_sampling {
        return Ok(CallToolResult::error(vec![ContentBlock::text(
            "The client did not declare the sampling capability",
        )]));
    }
    let request = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 100);
    let answer =
        peer.create_message(request)
            .await
            .map_err(|source| FixtureError::ClientRequest {
                request: "sampling/createMessage",
                source,
            })?;
    let text: Vec<&str> = answer
        .message
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect();
    Ok(success(ContentBlock::text(format!(
        "LLM response: {}",
        text.join("")
    ))))
}

/// Asks the user to fill `schema` and returns `"{label}: action=…, content=…"`. A client without
/// form elicitation gets a tool error saying so.
async fn elicit(
    peer: &Peer<RoleServer>,
    label: &str,
    message: String,
    requested_schema: ElicitationSchema,
) -> Result<CallToolResult, FixtureError> {
    if !peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Form)
    {
        return Ok(CallToolResult::error(vec![ContentBlock::text(
            "The client did not declare the elicitation capability (form mode)",
        )]));
    }
    let result = peer
        .create_elicitation(ElicitRequestParams::FormElicitationParams {
            meta: None,
            message,
            requested_schema,
        })
        .await
        .map_err(|source| FixtureError::ClientRequest {
            request: "elicitation/create",
            source,
        })?;
    let action = serde_json::to_value(&result.action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let content = result
        .content
        .unwrap_or_else(|| serde_json::Value::Object(JsonObject::new()));
    Ok(success(ContentBlock::text(format!(
        "{label}: action={action}, content={content}"
    ))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema_args(arguments: Value) -> SchemaToolArgs {
        serde_json::from_value(arguments).expect("arguments fit the schema's properties")
    }

    /// The call-time checks agree with the schema's `allOf` and `if`/`then`/`else`.
    #[test]
    fn schema_tool_checks_composition_and_conditionals() {
        assert!(
            schema_args(json!({ "email": "a@example.com" }))
                .check()
                .is_ok()
        );
        assert!(
            schema_args(json!({ "contactMethod": "phone", "phone": "123" }))
                .check()
                .is_ok()
        );
        assert!(
            schema_args(json!({})).check().is_err(),
            "neither phone nor email"
        );
        assert!(
            schema_args(json!({ "contactMethod": "phone", "email": "a@example.com" }))
                .check()
                .is_err(),
            "phone chosen, none given"
        );
        assert!(
            schema_args(json!({ "phone": "123" })).check().is_err(),
            "no method: email required"
        );
        assert!(
            serde_json::from_value::<SchemaToolArgs>(json!({ "fax": "1" })).is_err(),
            "additionalProperties: false"
        );
    }

    #[test]
    fn tool_names_are_unique_and_the_header_tool_is_annotated() {
        let tools = list();
        for tool in &tools {
            assert_eq!(
                tools.iter().filter(|t| t.name == tool.name).count(),
                1,
                "{} listed twice",
                tool.name
            );
        }
        let header_tool = tools
            .iter()
            .find(|tool| tool.name == CUSTOM_HEADER_TOOL)
            .expect("listed");
        assert_eq!(
            header_tool.input_schema["properties"]["region"]["x-mcp-header"],
            "Region"
        );
    }
}
