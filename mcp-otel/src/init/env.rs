//! Reading a [`TelemetryConfig`] from the environment: the standard `OTEL_*` variables, the
//! Phoenix ones and this crate's `MCP_*` ones.

use std::path::PathBuf;
use std::time::Duration;

use super::{InitError, OtlpProtocol, SamplerConfig, TelemetryConfig, TraceExporter};
use crate::profile::Profile;

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, InitError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(InitError::InvalidEnv {
            variable,
            value: value.to_owned(),
            expected: "true or false",
        }),
    }
}

fn parse_millis(variable: &'static str, value: &str) -> Result<Duration, InitError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| InitError::InvalidEnv {
            variable,
            value: value.to_owned(),
            expected: "a whole number of milliseconds",
        })
}

fn parse_usize(variable: &'static str, value: &str) -> Result<usize, InitError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| InitError::InvalidEnv {
            variable,
            value: value.to_owned(),
            expected: "a positive whole number",
        })
}

fn parse_ratio(value: Option<&str>) -> Result<f64, InitError> {
    let Some(value) = value else {
        return Ok(1.0);
    };
    match value.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(InitError::InvalidEnv {
            variable: "OTEL_TRACES_SAMPLER_ARG",
            value: value.to_owned(),
            expected: "a number from 0 to 1",
        }),
    }
}

/// `http://host:6006/v1/traces` and `http://host:6006/` both become `http://host:6006`.
fn base_endpoint(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    endpoint
        .strip_suffix("/v1/traces")
        .unwrap_or(endpoint)
        .to_owned()
}

impl TelemetryConfig {
    /// [`new`](Self::new) with the process environment applied
    /// ([`merge_lookup`](Self::merge_lookup) over `std::env::var`).
    pub fn from_env(service_name: impl Into<String>) -> Result<Self, InitError> {
        Self::new(service_name).merge_lookup(|key| std::env::var(key).ok())
    }

    /// Applies the variables that `lookup` returns, overriding the fields they name:
    ///
    /// | Variable | Field |
    /// | --- | --- |
    /// | `MCP_OTEL_PROFILE` (`development`, `production`), applied first | every field, see [`Profile`] |
    /// | `MCP_OTEL_ENABLED` | `enabled` |
    /// | `OTEL_SERVICE_NAME` | `service_name` |
    /// | `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`) | `traces` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT`, else `PHOENIX_COLLECTOR_ENDPOINT` | `otlp_endpoint` |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, `grpc`) | `otlp_protocol` |
    /// | `OTEL_EXPORTER_OTLP_CERTIFICATE` (a PEM file, added) | `otlp_certificates` |
    /// | `PHOENIX_API_KEY` | `otlp_headers` (`authorization: Bearer …`) |
    /// | `PHOENIX_PROJECT_NAME` | `project_name` |
    /// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` (alone: the ratio of a ratio sampler) | `sampler` |
    /// | `OTEL_METRICS_EXPORTER` (`otlp`, `none`) | `metrics` |
    /// | `OTEL_METRIC_EXPORT_INTERVAL` | `metric_interval` |
    /// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` | `max_queue_size`, `scheduled_delay` |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT` | `export_timeout` |
    /// | `MCP_LOG_LEVEL` | `log_filter` |
    /// | `MCP_LOG_SPAN_FIELDS` (`true`, `false`) | `log_span_fields` |
    /// | `MCP_OTEL_SPAN_FILTER` | `span_filter` |
    /// | `MCP_OTEL_SPAN_DETAILS` (`true`, `false`) | `span_details` |
    /// | `MCP_LOG_ANSI` (`true`, `false`), else `NO_COLOR` (any value: off) | `log_ansi` |
    /// | `MCP_OTEL_CAPTURE_IO`, `MCP_OTEL_REDACT_FIELDS` (comma-separated, added), `MCP_OTEL_CAPTURE_MAX_BYTES` | `capture` |
    ///
    /// With the development profile, an OTLP endpoint variable (a local Phoenix) switches traces
    /// from the console to OTLP unless `OTEL_TRACES_EXPORTER` says otherwise.
    ///
    /// Empty values count as unset. Values that do not parse are errors, not silently ignored.
    #[allow(clippy::too_many_lines)] // one arm per variable of the table above
    pub fn merge_lookup<F>(mut self, lookup: F) -> Result<Self, InitError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());

        if let Some(v) = get("MCP_OTEL_PROFILE") {
            self = self.profile(v.parse()?);
        }
        if let Some(v) = get("MCP_OTEL_ENABLED") {
            self.enabled = parse_bool("MCP_OTEL_ENABLED", &v)?;
        }
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            v.trim().clone_into(&mut self.service_name);
        }
        if let Some(v) = get("OTEL_TRACES_EXPORTER") {
            self.traces = match v.trim().to_ascii_lowercase().as_str() {
                "otlp" => TraceExporter::Otlp,
                "console" | "stdout" => TraceExporter::Console,
                "none" => TraceExporter::None,
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_TRACES_EXPORTER",
                        value: v,
                        expected: "otlp, console or none",
                    });
                }
            };
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            self.otlp_protocol = match v.trim() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "grpc" => {
                    "http://localhost:4317".clone_into(&mut self.otlp_endpoint);
                    OtlpProtocol::Grpc
                }
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
                        value: v,
                        expected: "http/protobuf or grpc",
                    });
                }
            };
        }
        let otel_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let phoenix_endpoint = get("PHOENIX_COLLECTOR_ENDPOINT");
        let phoenix_only = otel_endpoint.is_none() && phoenix_endpoint.is_some();
        if let Some(v) = otel_endpoint.or(phoenix_endpoint) {
            self.otlp_endpoint = base_endpoint(&v);
            if self.profile == Some(Profile::Development) && get("OTEL_TRACES_EXPORTER").is_none() {
                self.traces = TraceExporter::Otlp;
            }
        }
        if let Some(path) = get("OTEL_EXPORTER_OTLP_CERTIFICATE") {
            self.otlp_certificates.push(PathBuf::from(path.trim()));
        }
        if let Some(key) = get("PHOENIX_API_KEY") {
            self.otlp_headers
                .push(("authorization".to_owned(), format!("Bearer {}", key.trim())));
        }
        if let Some(v) = get("PHOENIX_PROJECT_NAME") {
            self.project_name = Some(v.trim().to_owned());
        }
        let sampler_arg = get("OTEL_TRACES_SAMPLER_ARG");
        if let Some(v) = get("OTEL_TRACES_SAMPLER") {
            let arg = sampler_arg.as_deref();
            self.sampler = match v.trim().to_ascii_lowercase().as_str() {
                "always_on" => SamplerConfig::AlwaysOn,
                "always_off" => SamplerConfig::AlwaysOff,
                "traceidratio" => SamplerConfig::TraceIdRatio(parse_ratio(arg)?),
                "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
                "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
                "parentbased_traceidratio" => {
                    SamplerConfig::ParentBasedTraceIdRatio(parse_ratio(arg)?)
                }
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_TRACES_SAMPLER",
                        value: v,
                        expected: "always_on, always_off, traceidratio, parentbased_always_on, \
                                   parentbased_always_off or parentbased_traceidratio",
                    });
                }
            };
        } else if let Some(arg) = sampler_arg.as_deref() {
            // The argument alone tunes the ratio of the sampler already chosen (a profile's).
            match &mut self.sampler {
                SamplerConfig::TraceIdRatio(ratio)
                | SamplerConfig::ParentBasedTraceIdRatio(ratio) => {
                    *ratio = parse_ratio(Some(arg))?;
                }
                _ => {}
            }
        }
        self.metrics = match get("OTEL_METRICS_EXPORTER") {
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "otlp" => true,
                "none" => false,
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_METRICS_EXPORTER",
                        value: v,
                        expected: "otlp or none",
                    });
                }
            },
            None => self.metrics && self.traces == TraceExporter::Otlp && !phoenix_only,
        };
        if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            self.metric_interval = parse_millis("OTEL_METRIC_EXPORT_INTERVAL", &v)?;
        }
        if let Some(v) = get("OTEL_BSP_MAX_QUEUE_SIZE") {
            self.max_queue_size = parse_usize("OTEL_BSP_MAX_QUEUE_SIZE", &v)?;
        }
        if let Some(v) = get("OTEL_BSP_SCHEDULE_DELAY") {
            self.scheduled_delay = parse_millis("OTEL_BSP_SCHEDULE_DELAY", &v)?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_TIMEOUT") {
            self.export_timeout = parse_millis("OTEL_EXPORTER_OTLP_TIMEOUT", &v)?;
        }
        if let Some(v) = get("MCP_LOG_LEVEL") {
            v.trim().clone_into(&mut self.log_filter);
        }
        if let Some(v) = get("MCP_LOG_SPAN_FIELDS") {
            self.log_span_fields = parse_bool("MCP_LOG_SPAN_FIELDS", &v)?;
        }
        if let Some(v) = get("MCP_OTEL_SPAN_FILTER") {
            v.trim().clone_into(&mut self.span_filter);
        }
        if let Some(v) = get("MCP_OTEL_SPAN_DETAILS") {
            self.span_details = parse_bool("MCP_OTEL_SPAN_DETAILS", &v)?;
        }
        if let Some(v) = get("MCP_LOG_ANSI") {
            self.log_ansi = parse_bool("MCP_LOG_ANSI", &v)?;
        } else if get("NO_COLOR").is_some() {
            self.log_ansi = false;
        }
        if let Some(v) = get("MCP_OTEL_CAPTURE_IO") {
            self.capture.enabled = parse_bool("MCP_OTEL_CAPTURE_IO", &v)?;
        }
        if let Some(v) = get("MCP_OTEL_REDACT_FIELDS") {
            self.capture.redact_fields.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
            );
        }
        if let Some(v) = get("MCP_OTEL_CAPTURE_MAX_BYTES") {
            self.capture.max_bytes = parse_usize("MCP_OTEL_CAPTURE_MAX_BYTES", &v)?;
        }
        Ok(self)
    }
}
