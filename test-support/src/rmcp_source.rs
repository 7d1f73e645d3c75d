//! The methods of rmcp's `trait ServerHandler`, read from the source of the rmcp a crate builds
//! against: what the decorators' forwarding tests compare their method lists with, so a method a
//! newer rmcp adds fails them instead of being silently not forwarded.

use std::collections::BTreeSet;

use serde_json::Value;

/// The `fn` names of `trait ServerHandler` of the rmcp that the crate at `manifest_dir` (its
/// `CARGO_MANIFEST_DIR`) builds against.
pub fn rmcp_server_handler_methods(manifest_dir: &str) -> BTreeSet<String> {
    let path = rmcp_server_rs(manifest_dir);
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let methods = server_handler_methods(&source);
    assert!(
        methods.contains("call_tool") && methods.contains("get_info"),
        "the parser found the trait's methods: {methods:?}"
    );
    methods
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// The path of `src/handler/server.rs` of the rmcp this crate builds against. `cargo metadata`
/// runs offline and for the host only, so it needs no package that is not already built.
fn rmcp_server_rs(manifest_dir: &str) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO")
        .unwrap_or_else(|_| option_env!("CARGO").unwrap_or("cargo").to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host_triple())
        .arg("--manifest-path")
        .arg(format!("{manifest_dir}/Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let rmcp: Vec<&Value> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|package| package["name"] == "rmcp")
        .collect();
    assert_eq!(rmcp.len(), 1, "one rmcp in the dependency graph");
    let manifest = rmcp[0]["manifest_path"].as_str().expect("manifest_path");
    std::path::Path::new(manifest)
        .parent()
        .expect("the package directory")
        .join("src/handler/server.rs")
}

/// The text of the `{ … }` block that starts at the first `{` at or after `from`, with line
/// comments removed (doc examples are comments, and their braces and `fn`s do not count).
fn block(source: &str, from: usize) -> String {
    let uncommented: String = source[from..]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let open = uncommented.find('{').expect("a block");
    let mut depth = 0usize;
    for (i, c) in uncommented[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return uncommented[open + 1..open + i].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced block");
}

/// The methods of `trait ServerHandler` in rmcp's source: the `fn`s of its body, or of the
/// `macro_rules!` whose invocation is its body (rmcp defines the trait through a macro shared
/// by its `Send` and `local` variants).
fn server_handler_methods(source: &str) -> BTreeSet<String> {
    let trait_at = source
        .find("pub trait ServerHandler")
        .expect("trait ServerHandler in rmcp's src/handler/server.rs");
    let mut body = block(source, trait_at);
    let invoked = body
        .trim()
        .strip_suffix("!();")
        .or_else(|| body.trim().strip_suffix("!()"));
    if let Some(name) = invoked.filter(|name| name.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        let macro_at = source
            .find(&format!("macro_rules! {name}"))
            .expect("the macro that defines the trait's methods");
        let rules = block(source, macro_at);
        // The methods are the expansion of its (one) rule: `() => { … }`.
        let arrow = rules.find("=>").expect("a macro rule");
        body = block(&rules, arrow);
    }
    // Only the items of the body: their signatures start at its outermost brace depth.
    let mut methods = BTreeSet::new();
    let mut depth = 0usize;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if depth == 0 {
            let signature = trimmed.strip_prefix("async ").unwrap_or(trimmed);
            if let Some(rest) = signature.strip_prefix("fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                methods.insert(name);
            }
        }
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    methods
}
