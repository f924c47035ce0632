//! SIP over TLS with rustls and the process's ring provider.
//!
//! Client side: the system's root certificates (`SSL_CERT_FILE` adds a private CA), and
//! the server checked against the host name the connection was made for.
//! `--tls-verify-server disabled` in `global_options` turns the check off for PBXs with
//! self-signed certificates (logged).
//!
//! Server side (the listener of `--tls enabled`): the certificate chain and key of
//! `--tls-cert` and `--tls-key` (PEM); clients are not asked for certificates.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Builds the listener's configuration from PEM files.
///
/// # Errors
/// A file that cannot be read or holds no certificate or key, or a key that does not fit
/// the certificate; the message names the flag.
pub(crate) fn server_config(cert: &str, key: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    hasip_ha::install_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sip_global.global_options: --tls-cert {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "sip_global.global_options: --tls-cert {cert}: no certificate in the file"
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("sip_global.global_options: --tls-key {key}: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!("sip_global.global_options: --tls-cert {cert} and --tls-key {key}: {e}")
        })?;
    Ok(Arc::new(config))
}

/// Builds the client configuration once per process.
///
/// # Errors
/// Verification is on and no root certificate could be loaded.
pub(crate) fn client_config(verify: bool) -> Result<Arc<ClientConfig>, String> {
    hasip_ha::install_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    if !verify {
        tracing::warn!(
            "SIP over TLS: the server's certificate is NOT checked (--tls-verify-server disabled)"
        );
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
        ));
    }
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(
            "SIP over TLS: no trusted root certificates (install ca-certificates, point \
             SSL_CERT_FILE at the PBX's CA, or set --tls-verify-server disabled)"
                .to_owned(),
        );
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// The name to check the server's certificate against: the host the shell resolved to
/// this address, else the address itself.
pub(crate) fn server_name(host: Option<&str>, addr: std::net::IpAddr) -> ServerName<'static> {
    host.and_then(|h| ServerName::try_from(h.to_owned()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(addr.into()))
}

/// Accepts any certificate (the handshake's signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
