//! TLS for the OTLP exporters: the CA certificates of [`TelemetryConfig::otlp_certificates`]
//! and the clients that trust them on top of the platform's roots.

#[cfg(feature = "otlp")]
use crate::init::{InitError, TelemetryConfig};

/// The PEM contents of every file in `otlp_certificates`, checked to hold at least one
/// certificate. Fails when TLS is needed (an `https://` endpoint or extra certificates) but
/// the crate was built without `rustls`.
#[cfg(feature = "otlp")]
pub(crate) fn ca_certificates(config: &TelemetryConfig) -> Result<Vec<Vec<u8>>, InitError> {
    let https = config
        .otlp_endpoint
        .trim()
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if !cfg!(feature = "rustls") && (https || !config.otlp_certificates.is_empty()) {
        return Err(InitError::TlsNotEnabled {
            endpoint: config.otlp_endpoint.clone(),
        });
    }
    config
        .otlp_certificates
        .iter()
        .map(|path| {
            let error = |reason: String| InitError::Certificate {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
            let text = String::from_utf8_lossy(&pem);
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err(error(
                    "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
                ));
            }
            #[cfg(feature = "rustls")]
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| error(e.to_string()))?;
            Ok(pem)
        })
        .collect()
}

/// The blocking client of the HTTP exporters: the platform's roots plus `certificates` (with
/// `rustls`; without it there are none), the export timeout. Built on a thread of its own, as a
/// blocking client must not be built on an async runtime's thread.
#[cfg(feature = "otlp")]
pub(crate) fn http_client(
    certificates: &[Vec<u8>],
    timeout: std::time::Duration,
    signal: &'static str,
) -> Result<reqwest::blocking::Client, InitError> {
    #[cfg(feature = "rustls")]
    let roots = {
        let mut roots = Vec::new();
        for pem in certificates {
            roots.extend(reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                InitError::Exporter {
                    signal,
                    source: Box::new(e),
                }
            })?);
        }
        roots
    };
    #[cfg(not(feature = "rustls"))]
    let roots: Vec<()> = {
        let _ = certificates; // always empty: ca_certificates refused any without TLS
        Vec::new()
    };
    let built = std::thread::spawn(move || {
        #[cfg(feature = "rustls")]
        let builder = roots
            .into_iter()
            .fold(reqwest::blocking::Client::builder(), |builder, root| {
                builder.add_root_certificate(root)
            });
        #[cfg(not(feature = "rustls"))]
        let builder = {
            let _ = roots;
            reqwest::blocking::Client::builder()
        };
        builder.timeout(timeout).build()
    })
    .join();
    match built {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(InitError::Exporter {
            signal,
            source: Box::new(e),
        }),
        Err(_) => Err(InitError::Exporter {
            signal,
            source: "building the HTTP client panicked".into(),
        }),
    }
}

/// The gRPC channel to an `https://` endpoint: the platform's roots plus `certificates`.
#[cfg(all(feature = "grpc", feature = "rustls"))]
pub(crate) fn grpc_channel(
    endpoint: &str,
    certificates: &[Vec<u8>],
    timeout: std::time::Duration,
    signal: &'static str,
) -> Result<tonic::transport::Channel, InitError> {
    let error = |e: tonic::transport::Error| InitError::Exporter {
        signal,
        source: Box::new(e),
    };
    let tls = certificates.iter().fold(
        tonic::transport::ClientTlsConfig::new().with_native_roots(),
        |tls, pem| tls.ca_certificate(tonic::transport::Certificate::from_pem(pem)),
    );
    Ok(tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(error)?
        .tls_config(tls)
        .map_err(error)?
        .timeout(timeout)
        .connect_lazy())
}
