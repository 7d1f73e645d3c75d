//! Verbosity profiles: what `MCP_OTEL_PROFILE` sets, that every variable still overrides it, and
//! that log lines are plain text when stderr is not a terminal.

use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_otel::{InitError, Profile, SamplerConfig, TelemetryConfig, TraceExporter};

fn from(env: &[(&str, &str)]) -> Result<TelemetryConfig, InitError> {
    TelemetryConfig::new("svc").merge_lookup(|key| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
}

#[test]
fn development_shows_everything() {
    let config = from(&[("MCP_OTEL_PROFILE", "development")]).expect("valid");
    assert_eq!(config.profile, Some(Profile::Development));
    assert_eq!(
        config.traces,
        TraceExporter::Console,
        "no endpoint: console"
    );
    assert!(config.capture.enabled, "capture on");
    assert!(
        config.capture.redact_fields.iter().any(|f| f == "password"),
        "with the default redaction list"
    );
    assert_eq!(config.sampler, SamplerConfig::AlwaysOn);
    assert_eq!(
        config.span_filter,
        "info,rmcp=off,mcp_cache=debug,mcp_authz=debug"
    );
    assert!(
        config.span_details,
        "source locations, threads and timings on spans"
    );
    assert!(config.log_filter.contains("mcp_cache=debug"));
    assert_eq!(config.scheduled_delay, Duration::from_millis(500));
    assert!(!config.metrics, "console traces: no OTLP metrics");
}

#[test]
fn development_with_a_local_phoenix_exports_otlp() {
    let config = from(&[
        ("MCP_OTEL_PROFILE", "dev"),
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
    ])
    .expect("valid");
    assert_eq!(config.traces, TraceExporter::Otlp);
    assert_eq!(config.otlp_endpoint, "http://127.0.0.1:6006");
    assert!(!config.metrics, "Phoenix takes no metrics");
    // An explicit exporter choice still wins over the endpoint rule.
    let console = from(&[
        ("MCP_OTEL_PROFILE", "development"),
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
        ("OTEL_TRACES_EXPORTER", "console"),
    ])
    .expect("valid");
    assert_eq!(console.traces, TraceExporter::Console);
}

#[test]
fn production_is_quiet_and_sampled() {
    let config = from(&[("MCP_OTEL_PROFILE", "Production")]).expect("valid");
    assert_eq!(config.profile, Some(Profile::Production));
    assert_eq!(config.traces, TraceExporter::Otlp);
    assert!(!config.capture.enabled, "capture off");
    assert_eq!(
        config.sampler,
        SamplerConfig::ParentBasedTraceIdRatio(mcp_otel::profile::PRODUCTION_SAMPLING_RATIO)
    );
    assert_eq!(config.span_filter, "info,rmcp=off");
    assert!(!config.span_details);
    assert_eq!(config.log_filter, "info");
    assert_eq!(config.max_queue_size, 2048);
    assert!(config.metrics, "a generic collector takes metrics");
}

#[test]
fn every_variable_overrides_the_profile() {
    let config = from(&[
        ("MCP_OTEL_PROFILE", "production"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ("MCP_OTEL_CAPTURE_IO", "true"),
        ("MCP_LOG_LEVEL", "debug"),
        ("MCP_OTEL_SPAN_FILTER", "info,mcp_cache=debug"),
        ("MCP_OTEL_SPAN_DETAILS", "true"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ])
    .expect("valid");
    assert_eq!(config.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.5));
    assert!(config.capture.enabled);
    assert_eq!(config.log_filter, "debug");
    assert_eq!(config.span_filter, "info,mcp_cache=debug");
    assert!(config.span_details);
    assert_eq!(config.max_queue_size, 64);
    assert_eq!(config.scheduled_delay, Duration::from_millis(100));
    assert_eq!(config.traces, TraceExporter::None);

    let dev = from(&[
        ("MCP_OTEL_PROFILE", "development"),
        ("MCP_OTEL_CAPTURE_IO", "false"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ])
    .expect("valid");
    assert!(!dev.capture.enabled);
    assert_eq!(dev.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.25));

    // Fields set in code after the profile win too.
    let mut code = TelemetryConfig::new("svc").profile(Profile::Development);
    code.capture.enabled = false;
    assert!(!code.capture.enabled);
}

#[test]
fn without_a_profile_nothing_changes() {
    assert_eq!(from(&[]).expect("valid"), TelemetryConfig::new("svc"));
}

#[test]
fn an_unknown_profile_is_a_typed_error() {
    match from(&[("MCP_OTEL_PROFILE", "staging")]) {
        Err(InitError::InvalidEnv {
            variable, expected, ..
        }) => {
            assert_eq!(variable, "MCP_OTEL_PROFILE");
            assert_eq!(expected, "development or production");
        }
        other => panic!("expected InvalidEnv, got {other:?}"),
    }
    match from(&[("MCP_LOG_ANSI", "sometimes")]) {
        Err(InitError::InvalidEnv { variable, .. }) => assert_eq!(variable, "MCP_LOG_ANSI"),
        other => panic!("expected InvalidEnv, got {other:?}"),
    }
}

#[test]
fn colour_follows_the_variables() {
    assert!(!from(&[("NO_COLOR", "1")]).expect("valid").log_ansi);
    assert!(
        from(&[("NO_COLOR", "1"), ("MCP_LOG_ANSI", "true")])
            .expect("valid")
            .log_ansi,
        "MCP_LOG_ANSI wins over NO_COLOR"
    );
    assert!(!from(&[("MCP_LOG_ANSI", "false")]).expect("valid").log_ansi);
}

/// Set in the child process this test starts: it logs through [`mcp_otel::init`] and exits.
const CHILD: &str = "MCP_OTEL_PROFILE_TEST_CHILD";

/// The child's half of the tests below: a pipeline from the environment that logs one warning
/// inside a span (so the line has the trace-id prefix too).
#[test]
fn child_logs_one_line() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mut config = TelemetryConfig::from_env("ansi-child").expect("valid env");
    config.traces = TraceExporter::None;
    config.metrics = false;
    let guard = mcp_otel::init(&config).expect("init");
    tracing::info_span!("work").in_scope(|| {
        tracing::warn!(answer = 42, "a line for the log file");
    });
    guard.shutdown();
}

/// Runs [`child_logs_one_line`] in a child process with stderr piped to us (not a terminal).
fn child_stderr(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "--exact",
            "child_logs_one_line",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("NO_COLOR")
        .env_remove("MCP_LOG_ANSI")
        .env_remove("MCP_OTEL_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("child runs");
    assert!(output.status.success(), "child failed: {output:?}");
    String::from_utf8(output.stderr).expect("utf-8")
}

#[test]
fn log_lines_are_plain_text_when_stderr_is_not_a_terminal() {
    let plain = child_stderr(&[("MCP_OTEL_PROFILE", "development")]);
    assert!(plain.contains("a line for the log file"), "{plain:?}");
    assert!(plain.contains("answer=42"), "{plain:?}");
    assert!(plain.contains("trace_id="), "{plain:?}");
    assert!(
        !plain.contains('\u{1b}'),
        "ANSI escape codes in a non-terminal stderr: {plain:?}"
    );
    // The check can see colour: forcing it on puts escape codes in the same line.
    let coloured = child_stderr(&[("MCP_LOG_ANSI", "true")]);
    assert!(coloured.contains("a line for the log file"), "{coloured:?}");
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
}
