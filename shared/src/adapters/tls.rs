//! Trusted roots for the HTTPS clients, compiled in (Mozilla's set, from the webpki crates)
//! instead of read from the system at cold start.
//!
//! Why: by default both the AWS SDK's client (rustls-native-certs) and reqwest (the platform
//! verifier) read and parse the system CA bundle at run time; callgrind put ~64 % of the
//! webhook's init instructions there. Compiled-in roots need no file system and, for reqwest,
//! no parsing at all (webpki-roots ships the trust anchors already extracted). `make bench`
//! measures the difference (docs/performance.md).

/// Mozilla's roots as one PEM bundle: the SDK takes extra roots only as PEM.
#[cfg(feature = "aws")]
fn mozilla_roots_pem() -> String {
    use base64::Engine as _;
    let mut pem = String::with_capacity(256 * 1024);
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        // Base64 is ASCII, so 64-byte chunks are whole 64-character PEM lines.
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// The SDK's trust store: the compiled-in roots, system store off. Each connector the SDK
/// builds parses them (~150 certificates), which costs far less than finding, reading and
/// parsing the system's bundle.
#[cfg(feature = "aws")]
fn sdk_trust_store() -> aws_smithy_http_client::tls::TrustStore {
    aws_smithy_http_client::tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(mozilla_roots_pem())
}

/// Gives the SDK's loader its own default HTTPS client (rustls on aws-lc), with the
/// compiled-in roots.
#[cfg(feature = "aws")]
pub(crate) fn with_compiled_in_roots(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls;
    let context = tls::TlsContext::builder()
        .with_trust_store(sdk_trust_store())
        .build()
        // Building fails only for an s2n trust store; ours is rustls.
        .unwrap_or_default();
    loader.http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https(),
    )
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
    #[cfg(feature = "aws")]
    #[test]
    fn the_sdk_roots_are_every_compiled_in_certificate_as_pem() {
        use base64::Engine as _;

        let pem = super::mozilla_roots_pem();

        let blocks: Vec<&str> = pem
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|b| b.trim_end().trim_end_matches("-----END CERTIFICATE-----"))
            .collect();
        assert_eq!(blocks.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(blocks.len() > 100, "{} roots", blocks.len());
        for (block, der) in blocks.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert!(block.lines().all(|l| l.len() <= 64));
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(block.replace('\n', ""))
                .expect("valid base64");
            assert_eq!(decoded, der.as_ref());
        }
        assert!(format!("{:?}", super::sdk_trust_store()).contains("enable_native_roots: false"));
    }

    #[cfg(feature = "glase")]
    #[test]
    fn the_glase_client_config_builds_on_aws_lc_with_the_compiled_in_anchors() {
        let config = super::glase_tls_config();

        assert!(config.is_ok(), "{config:?}");
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }
}
