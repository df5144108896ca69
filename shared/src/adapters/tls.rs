//! Trusted roots for the HTTPS clients, compiled in (Mozilla's set, from the webpki crates)
//! instead of read from the system at cold start.
//!
//! Why: by default both the AWS SDK's client (rustls-native-certs) and reqwest (the platform
//! verifier) read and parse the system CA bundle at run time; callgrind put ~64 % of the
//! webhook's init instructions there. Compiled-in roots need no file system and, for reqwest,
//! no parsing at all (webpki-roots ships the trust anchors already extracted). `make bench`
//! measures the difference (docs/performance.md).

/// Mozilla's roots (webpki-root-certs) as one PEM bundle, written by build.rs: the SDK takes
/// extra roots only as PEM.
#[cfg(feature = "aws")]
const MOZILLA_ROOTS_PEM: &str = include_str!(concat!(env!("OUT_DIR"), "/mozilla-roots.pem"));

/// The SDK's trust store: the compiled-in roots, system store off. Each TLS connector the SDK
/// builds decodes and parses them (~150 certificates), which costs far less than finding,
/// reading and parsing the system's bundle — and is done once per process (see
/// [`ConnectorOnFirstRequest`]).
#[cfg(feature = "aws")]
fn sdk_trust_store() -> aws_smithy_http_client::tls::TrustStore {
    aws_smithy_http_client::tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(MOZILLA_ROOTS_PEM)
}

/// Gives the SDK's loader its own default HTTPS client (rustls on aws-lc), with the
/// compiled-in roots, building its TLS connector on the first request only.
#[cfg(feature = "aws")]
pub(crate) fn with_compiled_in_roots(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(sdk_trust_store())
        .build()
        // Building fails only for an s2n trust store; ours is rustls.
        .unwrap_or_default();
    loader.http_client(connector_on_first_request(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https(),
    ))
}

#[cfg(feature = "aws")]
fn connector_on_first_request(client: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(ConnectorOnFirstRequest(client))
}

#[cfg(feature = "aws")]
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
#[cfg(feature = "aws")]
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The SDK's HTTPS client, minus its `validate_base_client_config`, which builds a whole TLS
/// connector — decoding and parsing every root — only to drop it, so that the system's roots
/// load when a client is built rather than at its first request. It ran once per SDK client
/// and once in `aws_config`'s loader: two of the webhook's three connector builds, ~2/3 of its
/// cold start's instructions (docs/performance.md). Our roots need no loading, and the one
/// connector the requests use (cached by the inner client) is built by the first request:
/// during init when the function primes its connection, as the webhook does.
#[cfg(feature = "aws")]
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

#[cfg(feature = "aws")]
impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// rustls settings for Glase's client: aws-lc (the SDK's crypto, so one provider is linked)
/// and webpki-roots' ready-made trust anchors.
#[cfg(feature = "glase")]
pub(crate) fn glase_tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    /// What the SDK does with them at its first request (aws-smithy-http-client's
    /// `rustls_root_certs`: `pem_slice_iter`, then `RootCertStore::add`, each an `expect`).
    #[cfg(feature = "aws")]
    #[test]
    fn the_compiled_in_sdk_roots_parse_as_the_sdk_parses_them_into_every_mozilla_root() {
        use rustls::pki_types::{pem::PemObject as _, CertificateDer};

        let ders = CertificateDer::pem_slice_iter(super::MOZILLA_ROOTS_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        let mut roots = rustls::RootCertStore::empty();
        for der in &ders {
            roots.add(der.clone()).expect("a parsable trust anchor");
        }

        assert!(ders.len() > 100, "{} roots", ders.len());
        assert_eq!(ders.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert_eq!(roots.len(), ders.len());
        for (der, mozilla) in ders.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(der.as_ref(), mozilla.as_ref());
        }
        assert!(format!("{:?}", super::sdk_trust_store()).contains("enable_native_roots: false"));
    }

    /// An inner HTTP client that counts what the SDK asks of it.
    #[cfg(feature = "sqs")]
    #[derive(Debug, Clone, Default)]
    struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    #[cfg(feature = "sqs")]
    impl aws_smithy_runtime_api::client::http::HttpClient for Counting {
        fn http_connector(
            &self,
            _: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
            unreachable!("no request is sent")
        }

        /// aws-smithy-http-client's client builds a whole TLS connector here (parsing every
        /// root) and drops it.
        fn validate_base_client_config(
            &self,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder,
            _: &aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[cfg(feature = "sqs")]
    #[tokio::test]
    async fn building_the_config_and_sdk_clients_builds_no_tls_connector_before_a_request() {
        let inner = Counting::default();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(super::connector_on_first_request(
                aws_smithy_runtime_api::client::http::SharedHttpClient::new(inner.clone()),
            ))
            .region(aws_config::Region::from_static("eu-west-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "id", "secret", None, None, "test",
            ))
            .load()
            .await;

        let _one = aws_sdk_sqs::Client::new(&config);
        let _two = aws_sdk_sqs::Client::new(&config);

        assert_eq!(inner.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[cfg(feature = "glase")]
    #[test]
    fn the_glase_client_config_builds_on_aws_lc_with_the_compiled_in_anchors() {
        let config = super::glase_tls_config();

        assert!(config.is_ok(), "{config:?}");
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }
}
