//! Writes Mozilla's roots (webpki-root-certs) as one PEM bundle into OUT_DIR for the AWS SDK's
//! TLS client, which takes extra roots only as PEM (adapters/tls.rs), instead of encoding ~150
//! certificates at every cold start.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Only the SDK's client needs it; webpki-root-certs and base64 come with `aws` alone.
    #[cfg(feature = "aws")]
    write_mozilla_roots_pem();
}

#[cfg(feature = "aws")]
fn write_mozilla_roots_pem() {
    use base64::Engine as _;
    use std::fmt::Write as _;

    let mut pem = String::with_capacity(256 * 1024);
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        // Base64 is ASCII, so 64-byte chunks are whole 64-character PEM lines.
        for line in b64.as_bytes().chunks(64) {
            let line = std::str::from_utf8(line).expect("base64 is ASCII");
            writeln!(pem, "{line}").expect("writing to a String");
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("mozilla-roots.pem"), pem).expect("writing OUT_DIR/mozilla-roots.pem");
}
