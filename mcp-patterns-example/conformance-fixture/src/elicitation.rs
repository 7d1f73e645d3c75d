//! The `requestedSchema`s of the fixture's elicitation tools.
//!
//! Each is written as the JSON the suite expects on the wire and read through rmcp's typed
//! [`ElicitationSchema`], so a schema rmcp cannot represent fails loudly (and a unit test below
//! checks that every one survives the round trip unchanged).

use rmcp::model::ElicitationSchema;
use serde_json::{Value, json};

use super::FixtureError;

/// `test_elicitation`: a username and an email, both required.
pub(super) fn user_details() -> Result<ElicitationSchema, FixtureError> {
    parse(
        "user_details",
        json!({
            "type": "object",
            "properties": {
                "username": { "type": "string", "description": "User's response" },
                "email": { "type": "string", "description": "User's email address" }
            },
            "required": ["username", "email"]
        }),
    )
}

/// `test_elicitation_sep1034_defaults`: a default for every primitive type (SEP-1034).
pub(super) fn sep1034_defaults() -> Result<ElicitationSchema, FixtureError> {
    parse("sep1034_defaults", sep1034_defaults_json())
}

fn sep1034_defaults_json() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User age", "default": 30 },
            "score": { "type": "number", "description": "User score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Verification status", "default": true }
        },
        "required": []
    })
}

/// `test_elicitation_sep1330_enums`: the five enum shapes of SEP-1330.
pub(super) fn sep1330_enums() -> Result<ElicitationSchema, FixtureError> {
    parse("sep1330_enums", sep1330_enums_json())
}

fn sep1330_enums_json() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Select one option",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string",
                "description": "Select one option with titles",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "description": "Select multiple options",
                "minItems": 1,
                "maxItems": 3,
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "description": "Select multiple options with titles",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        },
        "required": []
    })
}

fn parse(name: &'static str, schema: Value) -> Result<ElicitationSchema, FixtureError> {
    serde_json::from_value(schema).map_err(|source| FixtureError::Schema { name, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rmcp keeps every keyword the suite checks: what goes on the wire is what was written.
    #[test]
    fn schemas_survive_rmcp_unchanged() {
        for (name, written) in [
            ("sep1034_defaults", sep1034_defaults_json()),
            ("sep1330_enums", sep1330_enums_json()),
        ] {
            let typed = parse(name, written.clone()).expect("schema parses");
            let wire = serde_json::to_value(&typed).expect("schema serializes");
            assert_eq!(wire, written, "{name} changed on its way through rmcp");
        }
        let user = serde_json::to_value(user_details().expect("parses")).expect("serializes");
        assert_eq!(user["required"], json!(["username", "email"]));
    }
}
