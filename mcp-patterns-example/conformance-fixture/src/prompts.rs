//! The fixture's prompts, and argument completion for them and for the resource template.

use rmcp::model::{
    ArgumentInfo, CompleteResult, CompletionInfo, ContentBlock, GetPromptResult, JsonObject,
    Prompt, PromptArgument, PromptMessage, Reference, ResourceContents, Role,
};
use serde::Deserialize;

use super::content::PNG_1X1_BASE64;
use super::{FixtureError, mrtr};

/// What `completion/complete` offers for the arguments of `test_prompt_with_arguments`.
const ARGUMENT_SUGGESTIONS: [&str; 5] = ["paris", "park", "party", "test-value", "testing"];
/// What `completion/complete` offers for `{id}` of the resource template.
const TEMPLATE_ID_SUGGESTIONS: [&str; 4] = ["1", "2", "3", "123"];

/// Every prompt the fixture offers, the multi round-trip one ([`mrtr`]) included.
pub(super) fn list() -> Vec<Prompt> {
    let required = |name: &str, description: &str| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(true)
    };
    let mut prompts = vec![
        Prompt::new(
            "test_simple_prompt",
            Some("A simple prompt without arguments"),
            None,
        )
        .with_title("Simple Test Prompt"),
        Prompt::new(
            "test_prompt_with_arguments",
            Some("A prompt with required arguments"),
            Some(vec![
                required("arg1", "First test argument"),
                required("arg2", "Second test argument"),
            ]),
        )
        .with_title("Prompt With Arguments"),
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt that includes an embedded resource"),
            Some(vec![required(
                "resourceUri",
                "URI of the resource to embed",
            )]),
        )
        .with_title("Prompt With Embedded Resource"),
        Prompt::new(
            "test_prompt_with_image",
            Some("A prompt that includes image content"),
            None,
        )
        .with_title("Prompt With Image"),
    ];
    prompts.extend(mrtr::prompts());
    prompts
}

/// Arguments of `test_prompt_with_arguments`.
#[derive(Debug, Deserialize)]
struct TwoArguments {
    arg1: String,
    arg2: String,
}

/// Arguments of `test_prompt_with_embedded_resource`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmbedArguments {
    resource_uri: String,
}

/// The messages of prompt `name` with `arguments`.
pub(super) fn get(
    name: &str,
    arguments: Option<&JsonObject>,
) -> Result<GetPromptResult, FixtureError> {
    let messages = match name {
        "test_simple_prompt" => vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )],
        "test_prompt_with_arguments" => {
            let TwoArguments { arg1, arg2 } = parse_arguments(name, arguments)?;
            vec![PromptMessage::new_text(
                Role::User,
                format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"),
            )]
        }
        "test_prompt_with_embedded_resource" => {
            let EmbedArguments { resource_uri } = parse_arguments(name, arguments)?;
            vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(ResourceContents::text(
                        "Embedded resource content for testing.",
                        resource_uri,
                    )),
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ]
        }
        "test_prompt_with_image" => vec![
            PromptMessage::new(Role::User, ContentBlock::image(PNG_1X1_BASE64, "image/png")),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ],
        _ => {
            return Err(FixtureError::UnknownPrompt {
                name: name.to_owned(),
            });
        }
    };
    Ok(GetPromptResult::new(messages))
}

fn parse_arguments<T: for<'de> Deserialize<'de>>(
    name: &str,
    arguments: Option<&JsonObject>,
) -> Result<T, FixtureError> {
    let arguments = serde_json::Value::Object(arguments.cloned().unwrap_or_default());
    serde_json::from_value(arguments).map_err(|source| FixtureError::InvalidArguments {
        name: name.to_owned(),
        source,
    })
}

/// Suggestions for `argument` of the prompt or template `reference`: the fixed candidates that
/// start with what the user typed so far.
pub(super) fn complete(
    reference: &Reference,
    argument: &ArgumentInfo,
) -> Result<CompleteResult, FixtureError> {
    let candidates: &[&str] = match (reference, argument.name.as_str()) {
        (Reference::Prompt(prompt), "arg1" | "arg2")
            if prompt.name == "test_prompt_with_arguments" =>
        {
            &ARGUMENT_SUGGESTIONS
        }
        (Reference::Resource(template), "id") if template.uri == "test://template/{id}/data" => {
            &TEMPLATE_ID_SUGGESTIONS
        }
        _ => {
            return Err(FixtureError::UnknownCompletion {
                reference: format!(
                    "{} {} argument '{}'",
                    reference.reference_type(),
                    reference
                        .as_prompt_name()
                        .or(reference.as_resource_uri())
                        .unwrap_or_default(),
                    argument.name
                ),
            });
        }
    };
    let values: Vec<String> = candidates
        .iter()
        .filter(|candidate| candidate.starts_with(argument.value.as_str()))
        .map(|candidate| (*candidate).to_owned())
        .collect();
    // At most a handful of fixed candidates: far below the protocol's limit of 100.
    let completion = CompletionInfo::with_all_values(values).unwrap_or_default();
    Ok(CompleteResult::new(completion))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_filters_by_prefix() {
        let result = complete(
            &Reference::for_prompt("test_prompt_with_arguments"),
            &ArgumentInfo::new("arg1", "par"),
        )
        .expect("completes");
        assert_eq!(result.completion.values, ["paris", "park", "party"]);
        assert_eq!(result.completion.has_more, Some(false));
    }

    #[test]
    fn completion_of_unknown_argument_is_an_error() {
        let error = complete(
            &Reference::for_prompt("test_simple_prompt"),
            &ArgumentInfo::new("arg1", ""),
        )
        .expect_err("no such argument");
        assert!(matches!(error, FixtureError::UnknownCompletion { .. }));
    }

    #[test]
    fn missing_prompt_argument_is_invalid() {
        let error = get("test_prompt_with_arguments", None).expect_err("arg1 missing");
        assert!(matches!(error, FixtureError::InvalidArguments { .. }));
    }
}
