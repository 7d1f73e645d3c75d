//! Unit tests of the policies.

use super::*;
use crate::error::ConfigError;

fn ask(
    policy: &impl Policy,
    p: &Principal,
    action: Action,
    kind: TargetKind,
    name: &str,
) -> Decision {
    policy.evaluate(&AccessRequest::new(p, action, kind, name))
}

#[test]
fn static_rules_and_prefixes() {
    let policy = StaticPolicy::new()
        .tool("read", Requirement::none().scopes(["r"]))
        .tool(
            "admin",
            Rule::new(Requirement::none().roles(["admin"])).visible_to(Requirement::none()),
        )
        .resource("cache://a/*", Requirement::none().scopes(["r"]))
        .resource("cache://a/secret*", Requirement::none().roles(["admin"]));
    let reader = Principal::new("u").with_scopes(["r"]);
    assert!(ask(&policy, &reader, Action::Invoke, TargetKind::Tool, "read").is_allowed());
    assert_eq!(
        ask(&policy, &reader, Action::Invoke, TargetKind::Tool, "admin"),
        Decision::deny("requires role admin")
    );
    assert!(ask(&policy, &reader, Action::List, TargetKind::Tool, "admin").is_allowed());
    assert!(
        ask(
            &policy,
            &reader,
            Action::Invoke,
            TargetKind::Resource,
            "cache://a/x"
        )
        .is_allowed()
    );
    assert!(
        !ask(
            &policy,
            &reader,
            Action::Invoke,
            TargetKind::Resource,
            "cache://a/secret/1"
        )
        .is_allowed()
    );
    assert!(!ask(&policy, &reader, Action::List, TargetKind::Prompt, "p").is_allowed());
    let open = policy.clone().default_decision(DefaultDecision::Allow);
    assert!(ask(&open, &reader, Action::List, TargetKind::Prompt, "p").is_allowed());
    let nobody = Principal::new("n");
    assert_eq!(
        ask(&policy, &nobody, Action::Invoke, TargetKind::Tool, "read"),
        Decision::deny("requires scope r")
    );
}

#[test]
fn json_and_toml_agree() {
    let toml =
        StaticPolicy::from_toml("[tools.t]\nscopes = [\"a\"]\nvisible = { roles = [\"x\"] }\n")
            .unwrap();
    let json = StaticPolicy::from_json(
        r#"{"tools": {"t": {"scopes": ["a"], "visible": {"roles": ["x"]}}}}"#,
    )
    .unwrap();
    assert_eq!(toml, json);
    let err = StaticPolicy::from_toml("[tools.t]\nscope = [\"a\"]\n").unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn policy_files_by_extension() {
    let dir = std::env::temp_dir().join(format!("mcp-authz-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("policy.toml");
    let json = dir.join("policy.json");
    std::fs::write(
        &toml,
        "default = \"allow\"\n[tools.t]\nroles = [\"admin\"]\n",
    )
    .unwrap();
    std::fs::write(
        &json,
        r#"{"default": "allow", "tools": {"t": {"roles": ["admin"]}}}"#,
    )
    .unwrap();
    let from_toml = StaticPolicy::from_file(&toml).unwrap();
    assert_eq!(from_toml, StaticPolicy::from_file(&json).unwrap());
    let p = Principal::new("u");
    assert!(ask(&from_toml, &p, Action::List, TargetKind::Tool, "other").is_allowed());
    assert!(!ask(&from_toml, &p, Action::List, TargetKind::Tool, "t").is_allowed());
    let missing = StaticPolicy::from_file(dir.join("missing.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Io { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn all_of_takes_first_denial() {
    let p = Principal::new("u");
    let all = AllOf::new()
        .with(FnPolicy::new(|_: &AccessRequest<'_>| Decision::Allow))
        .with(FnPolicy::new(|r: &AccessRequest<'_>| {
            Decision::deny(format!("no {}", r.name))
        }));
    assert_eq!(
        ask(&all, &p, Action::List, TargetKind::Tool, "t"),
        Decision::deny("no t")
    );
    assert!(ask(&AllOf::new(), &p, Action::List, TargetKind::Tool, "t").is_allowed());
}
