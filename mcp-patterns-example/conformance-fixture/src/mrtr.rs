//! Multi round-trip requests (SEP-2322, protocol 2026-07-28): tools and a prompt that answer
//! `resultType: "input_required"` with the elicitation, sampling or roots requests the client
//! must fulfil, then complete once the client retries with the `inputResponses` (and the
//! `requestState` it was given).
//!
//! Each tool or prompt is a [`Flow`]: stages of input requests asked in order, the answers of
//! earlier stages carried in `requestState`. A 2026-07-28 request has no session, so that state
//! travels with the client: it is a JWT signed with a key only this fixture server knows
//! ([`StateCodec`]), so an altered, forged or expired state is refused with invalid params.
//!
//! A flow never asks for what the request's `clientCapabilities` do not declare: it fails with
//! MissingRequiredClientCapability (-32021) instead, or — `test_input_required_result_capabilities`
//! — leaves those input requests out.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_core::{OsRng, RngCore};
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ContentBlock,
    CreateMessageResult, ElicitResult, ElicitationAction, ElicitationCapability,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, ListRootsResult, Prompt, PromptMessage, Role,
    RootsCapabilities, SamplingCapability, Tool,
};
use rmcp::object;
use rmcp::service::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FixtureError;

/// How long a `requestState` stays valid.
const STATE_LIFETIME_SECS: u64 = 600;

/// The answers collected so far: input-request key to the client's result.
type Answers = BTreeMap<String, Value>;

/// What an input request asks the client to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `elicitation/create`, answered with an `ElicitResult`.
    Elicitation,
    /// `sampling/createMessage`, answered with a `CreateMessageResult`.
    Sampling,
    /// `roots/list`, answered with a `ListRootsResult`.
    Roots,
}

impl Kind {
    fn method(self) -> &'static str {
        match self {
            Self::Elicitation => "elicitation/create",
            Self::Sampling => "sampling/createMessage",
            Self::Roots => "roots/list",
        }
    }

    /// The client capability the request needs.
    fn capability(self) -> &'static str {
        match self {
            Self::Elicitation => "elicitation",
            Self::Sampling => "sampling",
            Self::Roots => "roots",
        }
    }

    fn declared(self, capabilities: &ClientCapabilities) -> bool {
        match self {
            Self::Elicitation => capabilities.elicitation.is_some(),
            Self::Sampling => capabilities.sampling.is_some(),
            Self::Roots => capabilities.roots.is_some(),
        }
    }

    fn require(self, capabilities: &mut ClientCapabilities) {
        match self {
            Self::Elicitation => {
                capabilities.elicitation = Some(ElicitationCapability::default());
            }
            Self::Sampling => capabilities.sampling = Some(SamplingCapability::default()),
            Self::Roots => capabilities.roots = Some(RootsCapabilities::default()),
        }
    }

    /// Checks that `value` is the result this kind of request is answered with.
    fn validate(self, key: &str, value: &Value) -> Result<(), FixtureError> {
        let parsed = match self {
            Self::Elicitation => ElicitResult::deserialize(value).map(drop),
            Self::Sampling => CreateMessageResult::deserialize(value).map(drop),
            Self::Roots => ListRootsResult::deserialize(value).map(drop),
        };
        parsed.map_err(|source| FixtureError::InvalidInputResponse {
            key: key.to_owned(),
            method: self.method(),
            source,
        })
    }
}

/// One input request of a flow: its key in `inputRequests` and the request's `params` (JSON).
#[derive(Debug)]
struct Ask {
    key: &'static str,
    kind: Kind,
    params: &'static str,
}

impl Ask {
    fn request(&self) -> Result<InputRequest, FixtureError> {
        let schema_error = |source| FixtureError::Schema {
            name: self.key,
            source,
        };
        let params: Value = serde_json::from_str(self.params).map_err(schema_error)?;
        let request = serde_json::json!({ "method": self.kind.method(), "params": params });
        serde_json::from_value(request).map_err(schema_error)
    }
}

/// What a flow does with input requests the client's capabilities rule out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Undeclared {
    /// Fail with MissingRequiredClientCapability (-32021).
    Refuse,
    /// Leave them out.
    Skip,
}

/// A tool or prompt that asks the client for input before it completes.
#[derive(Debug)]
pub(super) struct Flow {
    name: &'static str,
    description: &'static str,
    /// Asked in order: a stage is asked once every earlier stage is answered.
    stages: &'static [&'static [Ask]],
    /// Every input-required result carries a sealed `requestState`, and a retry must echo it.
    sealed: bool,
    undeclared: Undeclared,
    /// The text of the complete result.
    finish: fn(&Answers) -> String,
}

const ASK_NAME: Ask = Ask {
    key: "user_name",
    kind: Kind::Elicitation,
    params: r#"{
        "message": "What is your name?",
        "requestedSchema": {
            "type": "object",
            "properties": { "name": { "type": "string" } },
            "required": ["name"]
        }
    }"#,
};

const ASK_CAPITAL: Ask = Ask {
    key: "capital_question",
    kind: Kind::Sampling,
    params: r#"{
        "messages": [{
            "role": "user",
            "content": { "type": "text", "text": "What is the capital of France?" }
        }],
        "maxTokens": 100
    }"#,
};

const ASK_ROOTS: Ask = Ask {
    key: "client_roots",
    kind: Kind::Roots,
    params: "{}",
};

const ASK_CONFIRM: Ask = Ask {
    key: "confirm",
    kind: Kind::Elicitation,
    params: r#"{
        "message": "Please confirm",
        "requestedSchema": {
            "type": "object",
            "properties": { "ok": { "type": "boolean" } },
            "required": ["ok"]
        }
    }"#,
};

/// The tools that ask for input.
static TOOL_FLOWS: &[Flow] = &[
    Flow {
        name: "test_input_required_result_elicitation",
        description: "Asks for the user's name (elicitation input request), then greets them",
        stages: &[&[ASK_NAME]],
        sealed: false,
        undeclared: Undeclared::Refuse,
        finish: greeting,
    },
    Flow {
        name: "test_input_required_result_sampling",
        description: "Asks the client's LLM a question (sampling input request), then returns \
                      its answer",
        stages: &[&[ASK_CAPITAL]],
        sealed: false,
        undeclared: Undeclared::Refuse,
        finish: |answers| format!("LLM response: {}", sampled(answers, ASK_CAPITAL.key)),
    },
    Flow {
        name: "test_input_required_result_list_roots",
        description: "Asks for the client's roots (roots/list input request), then lists them",
        stages: &[&[ASK_ROOTS]],
        sealed: false,
        undeclared: Undeclared::Refuse,
        finish: |answers| format!("Client roots: {}", roots(answers, ASK_ROOTS.key)),
    },
    Flow {
        name: "test_input_required_result_request_state",
        description: "Asks for a confirmation with a signed requestState, which the retry must \
                      echo unchanged",
        stages: &[&[ASK_CONFIRM]],
        sealed: true,
        undeclared: Undeclared::Refuse,
        finish: confirmed,
    },
    Flow {
        name: "test_input_required_result_multiple_inputs",
        description: "Asks for a name, an LLM greeting and the client's roots in one round",
        stages: &[&[
            ASK_NAME,
            Ask {
                key: "greeting",
                kind: Kind::Sampling,
                params: r#"{
                    "messages": [{
                        "role": "user",
                        "content": { "type": "text", "text": "Generate a greeting" }
                    }],
                    "maxTokens": 50
                }"#,
            },
            ASK_ROOTS,
        ]],
        sealed: true,
        undeclared: Undeclared::Refuse,
        finish: |answers| {
            format!(
                "Name: {}; greeting: {}; roots: {}",
                elicited(answers, ASK_NAME.key, "name"),
                sampled(answers, "greeting"),
                roots(answers, ASK_ROOTS.key)
            )
        },
    },
    Flow {
        name: "test_input_required_result_multi_round",
        description: "Asks for a name, then (a second round, new requestState) for a favourite \
                      colour",
        stages: &[
            &[Ask {
                key: "step1",
                kind: Kind::Elicitation,
                params: r#"{
                    "message": "Step 1: What is your name?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": { "name": { "type": "string" } },
                        "required": ["name"]
                    }
                }"#,
            }],
            &[Ask {
                key: "step2",
                kind: Kind::Elicitation,
                params: r#"{
                    "message": "Step 2: What is your favorite color?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": { "color": { "type": "string" } },
                        "required": ["color"]
                    }
                }"#,
            }],
        ],
        sealed: true,
        undeclared: Undeclared::Refuse,
        finish: |answers| {
            format!(
                "{}'s favorite color is {}",
                elicited(answers, "step1", "name"),
                elicited(answers, "step2", "color")
            )
        },
    },
    Flow {
        name: "test_input_required_result_tampered_state",
        description: "Asks for a confirmation with an integrity-protected requestState; an \
                      altered state is refused with invalid params",
        stages: &[&[ASK_CONFIRM]],
        sealed: true,
        undeclared: Undeclared::Refuse,
        finish: confirmed,
    },
    Flow {
        name: "test_input_required_result_capabilities",
        description: "Asks for a name, an LLM answer and the roots, leaving out what the \
                      request's clientCapabilities do not declare",
        stages: &[&[ASK_NAME, ASK_CAPITAL, ASK_ROOTS]],
        sealed: false,
        undeclared: Undeclared::Skip,
        finish: |answers| {
            if answers.is_empty() {
                "The client declared none of elicitation, sampling and roots: nothing was asked"
                    .to_owned()
            } else {
                let keys: Vec<&str> = answers.keys().map(String::as_str).collect();
                format!("Input received for: {}", keys.join(", "))
            }
        },
    },
    Flow {
        name: "test_missing_capability",
        description: "Needs the sampling capability: without it in the request's \
                      clientCapabilities the call fails with MissingRequiredClientCapability \
                      (-32021)",
        stages: &[&[Ask {
            key: "llm_answer",
            kind: Kind::Sampling,
            params: r#"{
                "messages": [{
                    "role": "user",
                    "content": { "type": "text", "text": "Say hello" }
                }],
                "maxTokens": 50
            }"#,
        }]],
        sealed: false,
        undeclared: Undeclared::Refuse,
        finish: |answers| format!("LLM response: {}", sampled(answers, "llm_answer")),
    },
    Flow {
        name: "test_streaming_elicitation",
        description: "Asks the user to confirm through an input request on the response, never \
                      through a separate elicitation/create request",
        stages: &[&[Ask {
            key: "proceed",
            kind: Kind::Elicitation,
            params: r#"{
                "message": "Proceed?",
                "requestedSchema": {
                    "type": "object",
                    "properties": { "proceed": { "type": "boolean" } },
                    "required": ["proceed"]
                }
            }"#,
        }]],
        sealed: false,
        undeclared: Undeclared::Refuse,
        finish: |answers| format!("Proceed: {}", elicited(answers, "proceed", "proceed")),
    },
];

/// The prompts that ask for input.
static PROMPT_FLOWS: &[Flow] = &[Flow {
    name: "test_input_required_result_prompt",
    description: "Asks what context to use (elicitation input request), then returns a prompt \
                  using it",
    stages: &[&[Ask {
        key: "user_context",
        kind: Kind::Elicitation,
        params: r#"{
            "message": "What context should the prompt use?",
            "requestedSchema": {
                "type": "object",
                "properties": { "context": { "type": "string" } },
                "required": ["context"]
            }
        }"#,
    }]],
    sealed: false,
    undeclared: Undeclared::Refuse,
    finish: |answers| {
        format!(
            "Use this context: {}",
            elicited(answers, "user_context", "context")
        )
    },
}];

/// The flow of tool `name`, if it is one.
pub(super) fn tool_flow(name: &str) -> Option<&'static Flow> {
    TOOL_FLOWS.iter().find(|flow| flow.name == name)
}

/// The flow of prompt `name`, if it is one.
pub(super) fn prompt_flow(name: &str) -> Option<&'static Flow> {
    PROMPT_FLOWS.iter().find(|flow| flow.name == name)
}

/// The tools that ask for input, for `tools/list`.
pub(super) fn tools() -> Vec<Tool> {
    TOOL_FLOWS
        .iter()
        .map(|flow| {
            Tool::new(
                flow.name,
                flow.description,
                Arc::new(object!({ "type": "object", "properties": {} })),
            )
        })
        .collect()
}

/// The prompts that ask for input, for `prompts/list`.
pub(super) fn prompts() -> Vec<Prompt> {
    PROMPT_FLOWS
        .iter()
        .map(|flow| Prompt::new(flow.name, Some(flow.description), None))
        .collect()
}

/// Runs a tool flow for one round.
pub(super) fn call_tool(
    codec: &StateCodec,
    flow: &Flow,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, FixtureError> {
    let round = flow.advance(
        codec,
        &context.client_capabilities().unwrap_or_default(),
        request.input_responses.as_ref(),
        request.request_state.as_deref(),
    )?;
    Ok(match round {
        Round::InputRequired(result) => CallToolResponse::InputRequired(result),
        Round::Complete(answers) => {
            CallToolResult::success(vec![ContentBlock::text((flow.finish)(&answers))]).into()
        }
    })
}

/// Runs a prompt flow for one round.
pub(super) fn get_prompt(
    codec: &StateCodec,
    flow: &Flow,
    request: &GetPromptRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<GetPromptResponse, FixtureError> {
    let round = flow.advance(
        codec,
        &context.client_capabilities().unwrap_or_default(),
        request.input_responses.as_ref(),
        request.request_state.as_deref(),
    )?;
    Ok(match round {
        Round::InputRequired(result) => GetPromptResponse::InputRequired(result),
        Round::Complete(answers) => GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            (flow.finish)(&answers),
        )])
        .with_description(flow.description)
        .into(),
    })
}

/// The outcome of one round of a flow.
#[derive(Debug)]
enum Round {
    /// More input is needed.
    InputRequired(InputRequiredResult),
    /// Every stage is answered.
    Complete(Answers),
}

impl Flow {
    /// One round: the answers carried in `state` plus the new `responses`, then either the
    /// input requests of the first unanswered stage or the complete answers.
    ///
    /// Responses to keys the round did not ask for are ignored; a response that is not the
    /// result its request asks for is invalid params.
    fn advance(
        &self,
        codec: &StateCodec,
        capabilities: &ClientCapabilities,
        responses: Option<&InputResponses>,
        state: Option<&str>,
    ) -> Result<Round, FixtureError> {
        let stages = self.permitted(capabilities)?;
        let (mut answers, round) = match state {
            Some(token) => {
                let claims = codec.open(token, self.name)?;
                (claims.answers, claims.round)
            }
            None if self.sealed && responses.is_some() => {
                return Err(FixtureError::RequestState {
                    reason: "a retry of this request must echo the requestState it was given"
                        .to_owned(),
                });
            }
            None => (Answers::new(), 0),
        };
        for stage in stages {
            let mut missing = Vec::new();
            for ask in stage {
                if answers.contains_key(ask.key) {
                    continue;
                }
                match responses.and_then(|responses| responses.get(ask.key)) {
                    Some(value) => {
                        ask.kind.validate(ask.key, value)?;
                        answers.insert(ask.key.to_owned(), value.clone());
                    }
                    None => missing.push(ask),
                }
            }
            if !missing.is_empty() {
                let requests = missing
                    .iter()
                    .map(|ask| Ok((ask.key.to_owned(), ask.request()?)))
                    .collect::<Result<InputRequests, FixtureError>>()?;
                let state = if self.sealed || !answers.is_empty() {
                    Some(codec.seal(self.name, round + 1, &answers)?)
                } else {
                    None
                };
                return Ok(Round::InputRequired(InputRequiredResult::new(
                    Some(requests),
                    state,
                )));
            }
        }
        Ok(Round::Complete(answers))
    }

    /// The stages as the client's capabilities allow them.
    fn permitted(
        &self,
        capabilities: &ClientCapabilities,
    ) -> Result<Vec<Vec<&'static Ask>>, FixtureError> {
        let undeclared: Vec<Kind> = self
            .stages
            .iter()
            .flat_map(|stage| stage.iter())
            .map(|ask| ask.kind)
            .filter(|kind| !kind.declared(capabilities))
            .collect();
        if self.undeclared == Undeclared::Refuse && !undeclared.is_empty() {
            let mut required = ClientCapabilities::default();
            let mut names: Vec<&str> = Vec::new();
            for kind in undeclared {
                kind.require(&mut required);
                if !names.contains(&kind.capability()) {
                    names.push(kind.capability());
                }
            }
            return Err(FixtureError::MissingClientCapability {
                names: names.join(", "),
                required: Box::new(required),
            });
        }
        Ok(self
            .stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .filter(|ask| ask.kind.declared(capabilities))
                    .collect()
            })
            .collect())
    }
}

/// `test_input_required_result_elicitation`: a greeting for the name given.
fn greeting(answers: &Answers) -> String {
    format!("Hello, {}!", elicited(answers, ASK_NAME.key, "name"))
}

/// The request-state flows: the state was verified, or the retry would have failed.
fn confirmed(answers: &Answers) -> String {
    format!(
        "state-ok: the requestState was verified; confirmed: {}",
        elicited(answers, ASK_CONFIRM.key, "ok")
    )
}

/// Field `field` of the elicitation answered under `key`, or what the user did instead.
fn elicited(answers: &Answers, key: &str, field: &str) -> String {
    let Some(result) = answers
        .get(key)
        .and_then(|value| ElicitResult::deserialize(value).ok())
    else {
        return "(not given)".to_owned();
    };
    match result.action {
        ElicitationAction::Accept => match result.content.as_ref().and_then(|c| c.get(field)) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => format!("(no {field})"),
        },
        ElicitationAction::Decline => "(declined)".to_owned(),
        ElicitationAction::Cancel => "(cancelled)".to_owned(),
        _ => "(not accepted)".to_owned(),
    }
}

/// The text of the sampling answer under `key`.
fn sampled(answers: &Answers, key: &str) -> String {
    let Some(result) = answers
        .get(key)
        .and_then(|value| CreateMessageResult::deserialize(value).ok())
    else {
        return "(not given)".to_owned();
    };
    let text: Vec<&str> = result
        .message
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.as_str()))
        .collect();
    text.join("")
}

/// The roots answered under `key`, as `uri (name)` separated by commas.
fn roots(answers: &Answers, key: &str) -> String {
    let Some(result) = answers
        .get(key)
        .and_then(|value| ListRootsResult::deserialize(value).ok())
    else {
        return "(not given)".to_owned();
    };
    if result.roots.is_empty() {
        return "(none)".to_owned();
    }
    let roots: Vec<String> = result
        .roots
        .iter()
        .map(|root| match &root.name {
            Some(name) => format!("{} ({name})", root.uri),
            None => root.uri.clone(),
        })
        .collect();
    roots.join(", ")
}

/// What a `requestState` carries: the flow it belongs to, its round and the answers so far.
#[derive(Debug, Serialize, Deserialize)]
struct StateClaims {
    flow: String,
    round: u32,
    answers: Answers,
    exp: u64,
}

/// Seals and opens `requestState`: an HS256 JWT under a random key of this fixture server.
///
/// The client sees the answers it gave (the state is signed, not encrypted) but cannot change
/// them, move a state to another flow or use it after [`STATE_LIFETIME_SECS`].
pub(super) struct StateCodec {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for StateCodec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("StateCodec { .. }")
    }
}

impl StateCodec {
    /// A codec with a fresh random key.
    pub(super) fn random() -> Self {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
        }
    }

    fn seal(&self, flow: &str, round: u32, answers: &Answers) -> Result<String, FixtureError> {
        let claims = StateClaims {
            flow: flow.to_owned(),
            round,
            answers: answers.clone(),
            exp: jsonwebtoken::get_current_timestamp() + STATE_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|source| FixtureError::SealState { source })
    }

    fn open(&self, token: &str, flow: &str) -> Result<StateClaims, FixtureError> {
        let claims = jsonwebtoken::decode::<StateClaims>(token, &self.decoding, &self.validation)
            .map_err(|error| FixtureError::RequestState {
                reason: format!("not a valid state of this server ({error})"),
            })?
            .claims;
        if claims.flow != flow {
            return Err(FixtureError::RequestState {
                reason: format!("issued for '{}', not '{flow}'", claims.flow),
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn every_capability() -> ClientCapabilities {
        serde_json::from_value(json!({ "elicitation": {}, "sampling": {}, "roots": {} })).unwrap()
    }

    #[allow(clippy::needless_pass_by_value)] // called with `json!(…)` temporaries
    fn accept(content: Value) -> Value {
        json!({ "action": "accept", "content": content })
    }

    fn responses(entries: &[(&str, Value)]) -> InputResponses {
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect()
    }

    fn input_required(round: Round) -> InputRequiredResult {
        match round {
            Round::InputRequired(result) => result,
            Round::Complete(answers) => panic!("expected input required, got {answers:?}"),
        }
    }

    fn complete(round: Round) -> Answers {
        match round {
            Round::Complete(answers) => answers,
            Round::InputRequired(result) => panic!("expected complete, got {result:?}"),
        }
    }

    /// Every input request is a valid rmcp `InputRequest` with the method its kind names.
    #[test]
    fn every_input_request_parses() {
        for flow in TOOL_FLOWS.iter().chain(PROMPT_FLOWS) {
            for ask in flow.stages.iter().flat_map(|stage| stage.iter()) {
                let request = ask.request().unwrap_or_else(|error| {
                    panic!("{} / {}: {error}", flow.name, ask.key);
                });
                let wire = serde_json::to_value(&request).unwrap();
                assert_eq!(wire["method"], ask.kind.method(), "{}", ask.key);
            }
        }
    }

    #[test]
    fn names_are_unique_and_listed() {
        let tools = tools();
        assert_eq!(tools.len(), TOOL_FLOWS.len());
        for tool in &tools {
            assert!(tool_flow(&tool.name).is_some());
            assert_eq!(tools.iter().filter(|t| t.name == tool.name).count(), 1);
        }
        assert!(prompt_flow("test_input_required_result_prompt").is_some());
        assert!(tool_flow("test_input_required_result_prompt").is_none());
    }

    #[test]
    fn one_round_then_complete() {
        let codec = StateCodec::random();
        let flow = tool_flow("test_input_required_result_elicitation").unwrap();
        let first = input_required(
            flow.advance(&codec, &every_capability(), None, None)
                .unwrap(),
        );
        assert!(first.input_requests.unwrap().contains_key("user_name"));
        assert!(first.request_state.is_none(), "one stage, nothing to carry");
        // Unknown keys beside the answer are ignored.
        let answered = responses(&[
            ("user_name", accept(json!({ "name": "Alice" }))),
            ("unknown_extra_key", accept(json!({ "foo": "bar" }))),
        ]);
        let answers = complete(
            flow.advance(&codec, &every_capability(), Some(&answered), None)
                .unwrap(),
        );
        assert_eq!(greeting(&answers), "Hello, Alice!");
    }

    #[test]
    fn a_missing_answer_is_asked_again_and_a_malformed_one_refused() {
        let codec = StateCodec::random();
        let flow = tool_flow("test_input_required_result_elicitation").unwrap();
        let wrong = responses(&[("wrong_key", accept(json!({ "data": "wrong" })))]);
        let again = input_required(
            flow.advance(&codec, &every_capability(), Some(&wrong), None)
                .unwrap(),
        );
        assert!(again.input_requests.unwrap().contains_key("user_name"));
        let malformed = responses(&[("user_name", json!(12345))]);
        let error = flow
            .advance(&codec, &every_capability(), Some(&malformed), None)
            .unwrap_err();
        assert!(matches!(error, FixtureError::InvalidInputResponse { .. }));
        assert_eq!(
            error.into_error_data().code,
            rmcp::model::ErrorCode::INVALID_PARAMS
        );
    }

    #[test]
    fn multi_round_carries_answers_in_a_new_state() {
        let codec = StateCodec::random();
        let flow = tool_flow("test_input_required_result_multi_round").unwrap();
        let caps = every_capability();
        let first = input_required(flow.advance(&codec, &caps, None, None).unwrap());
        let state1 = first.request_state.unwrap();
        let step1 = responses(&[("step1", accept(json!({ "name": "Alice" })))]);
        let second = input_required(
            flow.advance(&codec, &caps, Some(&step1), Some(&state1))
                .unwrap(),
        );
        assert!(second.input_requests.unwrap().contains_key("step2"));
        let state2 = second.request_state.unwrap();
        assert_ne!(state1, state2);
        let step2 = responses(&[("step2", accept(json!({ "color": "blue" })))]);
        let answers = complete(
            flow.advance(&codec, &caps, Some(&step2), Some(&state2))
                .unwrap(),
        );
        assert_eq!((flow.finish)(&answers), "Alice's favorite color is blue");
    }

    #[test]
    fn tampered_missing_foreign_or_other_flows_state_is_refused() {
        let codec = StateCodec::random();
        let caps = every_capability();
        let flow = tool_flow("test_input_required_result_tampered_state").unwrap();
        let state = input_required(flow.advance(&codec, &caps, None, None).unwrap())
            .request_state
            .unwrap();
        let ok = responses(&[("confirm", accept(json!({ "ok": true })))]);
        let refused = |state: Option<&str>, flow: &Flow, codec: &StateCodec| {
            matches!(
                flow.advance(codec, &caps, Some(&ok), state),
                Err(FixtureError::RequestState { .. })
            )
        };
        assert!(refused(Some(&format!("{state}-TAMPERED")), flow, &codec));
        assert!(refused(None, flow, &codec), "a sealed flow needs its state");
        assert!(
            refused(Some(&state), flow, &StateCodec::random()),
            "another key"
        );
        let other = tool_flow("test_input_required_result_request_state").unwrap();
        assert!(refused(Some(&state), other, &codec), "another flow");
        let answers = complete(
            flow.advance(&codec, &caps, Some(&ok), Some(&state))
                .unwrap(),
        );
        assert!(confirmed(&answers).starts_with("state-ok"));
    }

    #[test]
    fn undeclared_capabilities_are_refused_or_skipped() {
        let codec = StateCodec::random();
        let sampling_only: ClientCapabilities =
            serde_json::from_value(json!({ "sampling": {} })).unwrap();
        let strict = tool_flow("test_input_required_result_multiple_inputs").unwrap();
        let error = strict
            .advance(&codec, &sampling_only, None, None)
            .unwrap_err();
        let data = error.into_error_data();
        assert_eq!(
            data.code,
            rmcp::model::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        );
        let required = &data.data.unwrap()["requiredCapabilities"];
        assert!(required["elicitation"].is_object() && required["roots"].is_object());
        assert!(required.get("sampling").is_none());

        let lenient = tool_flow("test_input_required_result_capabilities").unwrap();
        let asked = input_required(lenient.advance(&codec, &sampling_only, None, None).unwrap());
        let keys: Vec<String> = asked.input_requests.unwrap().into_keys().collect();
        assert_eq!(keys, ["capital_question"]);
        let nothing = complete(
            lenient
                .advance(&codec, &ClientCapabilities::default(), None, None)
                .unwrap(),
        );
        assert!(nothing.is_empty());
    }

    #[test]
    fn answers_are_rendered() {
        let answers: Answers = [
            (
                "greeting".to_owned(),
                json!({
                    "role": "assistant",
                    "content": { "type": "text", "text": "Hello there!" },
                    "model": "test-model",
                    "stopReason": "endTurn"
                }),
            ),
            (
                "client_roots".to_owned(),
                json!({ "roots": [{ "uri": "file:///test/root", "name": "Test Root" }] }),
            ),
            ("user_name".to_owned(), json!({ "action": "decline" })),
        ]
        .into_iter()
        .collect();
        assert_eq!(sampled(&answers, "greeting"), "Hello there!");
        assert_eq!(
            roots(&answers, "client_roots"),
            "file:///test/root (Test Root)"
        );
        assert_eq!(elicited(&answers, "user_name", "name"), "(declined)");
        assert_eq!(elicited(&answers, "absent", "name"), "(not given)");
    }
}
