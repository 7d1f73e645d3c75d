//! `TelemetryConfig` from the environment (through a lookup function, so the process
//! environment is untouched), and `build` for each exporter choice.

use std::time::Duration;

use mcp_otel::{InitError, OtlpProtocol, SamplerConfig, TelemetryConfig, TraceExporter};

fn from(env: &[(&str, &str)]) -> Result<TelemetryConfig, InitError> {
    TelemetryConfig::new("svc").merge_lookup(|key| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
}

#[test]
fn defaults() {
    let config = from(&[]).expect("no env");
    assert!(config.enabled);
    assert_eq!(config.service_name, "svc");
    assert_eq!(config.traces, TraceExporter::Otlp);
    assert_eq!(config.otlp_endpoint, "http://localhost:4318");
    assert_eq!(config.otlp_protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert!(config.metrics);
    assert_eq!(config.max_queue_size, 2048);
    assert_eq!(config.log_filter, "info");
    assert!(!config.capture.enabled);
    assert_eq!(config.project_name, None);
}

#[test]
fn standard_otel_variables() {
    let config = from(&[
        ("OTEL_SERVICE_NAME", "firewall"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "10000"),
        ("MCP_LOG_LEVEL", "debug,hyper=warn"),
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://ignored:6006"),
    ])
    .expect("valid env");
    assert_eq!(config.service_name, "firewall");
    assert_eq!(
        config.otlp_endpoint, "http://collector:4318",
        "OTEL_* wins over Phoenix"
    );
    assert_eq!(config.sampler, SamplerConfig::TraceIdRatio(0.1));
    assert_eq!(config.max_queue_size, 64);
    assert_eq!(config.scheduled_delay, Duration::from_millis(250));
    assert_eq!(config.export_timeout, Duration::from_millis(1500));
    assert_eq!(config.metric_interval, Duration::from_secs(10));
    assert_eq!(config.log_filter, "debug,hyper=warn");
    assert!(config.metrics, "a generic collector takes metrics");
}

#[test]
fn phoenix_variables() {
    let config = from(&[
        (
            "PHOENIX_COLLECTOR_ENDPOINT",
            "http://127.0.0.1:6006/v1/traces",
        ),
        ("PHOENIX_PROJECT_NAME", "firewall"),
        ("PHOENIX_API_KEY", "k3y"),
    ])
    .expect("valid env");
    assert_eq!(config.otlp_endpoint, "http://127.0.0.1:6006");
    assert_eq!(config.project_name.as_deref(), Some("firewall"));
    assert_eq!(
        config.otlp_headers,
        vec![("authorization".to_owned(), "Bearer k3y".to_owned())]
    );
    assert!(!config.metrics, "Phoenix takes traces only");
}

#[test]
fn switches_and_exporters() {
    let off = from(&[("MCP_OTEL_ENABLED", "false")]).expect("valid");
    assert!(!off.enabled);
    let console = from(&[("OTEL_TRACES_EXPORTER", "console")]).expect("valid");
    assert_eq!(console.traces, TraceExporter::Console);
    assert!(!console.metrics);
    let grpc = from(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect("valid");
    assert_eq!(grpc.otlp_protocol, OtlpProtocol::Grpc);
    assert_eq!(grpc.otlp_endpoint, "http://localhost:4317");
    let parent = from(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ])
    .expect("valid");
    assert_eq!(parent.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.0));
    let empty = from(&[("OTEL_SERVICE_NAME", "  ")]).expect("empty is unset");
    assert_eq!(empty.service_name, "svc");
}

#[test]
fn invalid_values_are_typed_errors() {
    for (key, value) in [
        ("MCP_OTEL_ENABLED", "maybe"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("MCP_OTEL_CAPTURE_IO", "2"),
        ("MCP_OTEL_SPAN_DETAILS", "sometimes"),
    ] {
        match from(&[(key, value)]) {
            Err(InitError::InvalidEnv { variable, .. }) => assert_eq!(variable, key),
            other => panic!("{key}={value}: expected InvalidEnv, got {other:?}"),
        }
    }
    let ratio = from(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ]);
    assert!(matches!(
        ratio,
        Err(InitError::InvalidEnv {
            variable: "OTEL_TRACES_SAMPLER_ARG",
            ..
        })
    ));
}

#[test]
fn build_each_exporter() {
    let mut config = TelemetryConfig::new("svc");
    config.log_to_stderr = false;
    config.metrics = false;
    for traces in [
        TraceExporter::Otlp,
        TraceExporter::Console,
        TraceExporter::None,
    ] {
        config.traces = traces;
        let (guard, _dispatch) = mcp_otel::build(&config).expect("builds");
        assert!(guard.tracer_provider().is_some());
        guard.shutdown();
    }
    config.enabled = false;
    let (guard, _dispatch) = mcp_otel::build(&config).expect("builds");
    assert!(guard.tracer_provider().is_none());

    config.enabled = true;
    config.log_filter = "info,[".to_owned();
    assert!(matches!(
        mcp_otel::build(&config),
        Err(InitError::LogFilter { .. })
    ));
}

#[cfg(not(feature = "grpc"))]
#[test]
fn grpc_needs_the_feature() {
    let mut config = TelemetryConfig::new("svc");
    config.otlp_protocol = OtlpProtocol::Grpc;
    assert!(matches!(
        mcp_otel::build(&config),
        Err(InitError::GrpcNotEnabled)
    ));
}
