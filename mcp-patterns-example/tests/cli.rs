//! The binary's configuration: a TOML file (`--config`), command-line precedence, and clear
//! errors for bad files.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");

fn config_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mcp-patterns-cli-{}-{}.toml",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts the binary with `args` and returns its first four banner lines.
fn banner(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.starts_with("mcp-patterns-example") || l.starts_with("  "))
        .take(4)
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn config_file_sets_options_and_the_command_line_wins() {
    let path = config_file("port = 0\ncache-scope = \"session\"\nno-auth = true\ncache-ttl = 5\n");
    let lines = banner(&["--config", path.to_str().expect("utf-8 path")]);
    let text = lines.join("\n");
    assert!(text.contains("session-scoped cache"), "{text}");
    assert!(text.contains("authorization OFF"), "{text}");

    let lines = banner(&[
        "--config",
        path.to_str().expect("utf-8 path"),
        "--cache-scope",
        "hybrid",
    ]);
    let text = lines.join("\n");
    assert!(text.contains("hybrid cache"), "{text}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn bad_config_is_a_clear_error() {
    let path = config_file("port = 0\ncache-scoop = \"session\"\n");
    let output = Command::new(BIN)
        .args(["--config", path.to_str().expect("utf-8 path")])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("configuration") && stderr.contains("cache-scoop"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);

    let output = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--jwks-url",
            "http://127.0.0.1:1/jwks",
            "--no-auth",
        ])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("choose one of"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_insecure_data_filter_switch_is_refused_outside_test_setups() {
    for args in [
        &[
            "--port",
            "0",
            "--insecure-no-data-filter",
            "--otel-profile",
            "production",
        ][..],
        &[
            "--port",
            "0",
            "--insecure-no-data-filter",
            "--bind",
            "0.0.0.0",
        ][..],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env_remove("MCP_OTEL_PROFILE")
            .env_remove("PHOENIX_COLLECTOR_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} started: {stderr}");
        assert!(
            stderr.contains("--insecure-no-data-filter") && stderr.contains("refused"),
            "{args:?}: {stderr}"
        );
    }
    // On loopback it starts, and says loudly what it does.
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--insecure-no-data-filter"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) {
        let done = line.contains("WARNING");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("serving MCP")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARNING: --insecure-no-data-filter: every caller gets every")),
        "{lines:?}"
    );
}

#[test]
fn prints_the_demo_entitlements_for_the_leak_evaluator() {
    let output = Command::new(BIN)
        .arg("--print-entitlements")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        document["applications"],
        serde_json::json!(["app-alpha", "app-beta", "app-gamma"])
    );
    assert_eq!(document["users"]["alice"], serde_json::json!(["app-alpha"]));
    assert_eq!(document["users"]["victor"], serde_json::json!(["app-beta"]));
    assert_eq!(
        document["users"]["ada"],
        serde_json::json!(["app-alpha", "app-beta", "app-gamma"])
    );
    assert_eq!(document["users"]["nobody"], serde_json::json!([]));
}
