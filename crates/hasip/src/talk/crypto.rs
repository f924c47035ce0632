//! str0m's cryptography for Talk, in pure Rust: SRTP (AES-CM with HMAC-SHA1-80, AEAD
//! AES-GCM 128 and 256) and the SRTP key derivation over RustCrypto's `aes`, `ctr` and
//! `aes-gcm`; HMAC-SHA1 for STUN and SHA-256 for certificate fingerprints; DTLS by dimpl
//! with its RustCrypto back-end; the self-signed DTLS certificate by rcgen over ring, the
//! crypto library the product already has.
//!
//! Written here rather than taken from `str0m-rust-crypto`, which makes the certificate
//! with rcgen over aws-lc and so links a second C crypto library (about 2 MiB) that the
//! rest of Talk does not need (ARCHITECTURE.md, "WebRTC").

use std::sync::Arc;
use std::time::Instant;

use aes::cipher::{BlockEncrypt, BlockSizeUser, KeyInit, KeyIvInit, StreamCipher};
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadCore, AeadInPlace};
use str0m::crypto::CryptoError;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{
    AeadAes128GcmCipher, AeadAes256GcmCipher, Aes128CmSha1_80Cipher, CryptoProvider,
    Sha1HmacProvider, Sha256Provider, SrtpProvider, SupportedAeadAes128Gcm, SupportedAeadAes256Gcm,
    SupportedAes128CmSha1_80,
};

/// The provider Talk's sessions use.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static SRTP: Srtp = Srtp;
    static SHA1: Sha1Hmac = Sha1Hmac;
    static SHA256: Sha256 = Sha256;
    static DTLS: Dtls = Dtls;
    Arc::new(CryptoProvider {
        srtp_provider: &SRTP,
        sha1_hmac_provider: &SHA1,
        sha256_provider: &SHA256,
        dtls_provider: &DTLS,
    })
}

fn failed(what: &str) -> CryptoError {
    CryptoError::Other(format!("SRTP: {what}"))
}

#[derive(Debug)]
struct Sha1Hmac;

impl Sha1HmacProvider for Sha1Hmac {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        // HMAC takes keys of any length.
        use hmac::Mac;
        let Ok(mut mac) = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(key) else {
            return [0; 20];
        };
        for p in payloads {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

#[derive(Debug)]
struct Sha256;

impl Sha256Provider for Sha256 {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }
}

#[derive(Debug)]
struct Srtp;

/// One AES block of `input` under `key` into `output` (SRTP's key derivation, RFC 3711
/// §4.3: AES in counter mode, one block at a time).
fn ecb_round<C: KeyInit + BlockEncrypt + BlockSizeUser<BlockSize = U16>>(
    key: &[u8],
    input: &[u8],
    output: &mut [u8],
) {
    let (Ok(cipher), Some(input), Some(out)) = (
        C::new_from_slice(key),
        input.get(..16),
        output.get_mut(..16),
    ) else {
        return;
    };
    let mut block = aes::Block::clone_from_slice(input);
    cipher.encrypt_block(&mut block);
    out.copy_from_slice(&block);
}

impl SrtpProvider for Srtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &CM
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &GCM128
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &GCM256
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        ecb_round::<aes::Aes128>(key, input, output);
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        ecb_round::<aes::Aes256>(key, input, output);
    }
}

#[derive(Debug)]
struct CmFactory;
static CM: CmFactory = CmFactory;

impl SupportedAes128CmSha1_80 for CmFactory {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Box::new(Cm { key })
    }
}

/// AES-128 in counter mode (the tag is str0m's, over HMAC-SHA1): encryption and
/// decryption are the same keystream.
struct Cm {
    key: [u8; 16],
}

impl std::fmt::Debug for Cm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cm")
    }
}

impl Cm {
    fn apply(&self, iv: &[u8; 16], input: &[u8], output: &mut [u8]) -> Result<(), CryptoError> {
        let out = output
            .get_mut(..input.len())
            .ok_or_else(|| failed("output shorter than the input"))?;
        out.copy_from_slice(input);
        let mut ctr = ctr::Ctr128BE::<aes::Aes128>::new(&self.key.into(), iv.into());
        ctr.apply_keystream(out);
        Ok(())
    }
}

impl Aes128CmSha1_80Cipher for Cm {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.apply(iv, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.apply(iv, input, output)
    }
}

/// The GCM tag's length.
const TAG: usize = 16;

/// AES-GCM encryption: `output` gets the ciphertext and then the tag.
fn gcm_seal<A: AeadInPlace + AeadCore<NonceSize = U12, TagSize = U16>>(
    aead: &A,
    iv: &[u8; 12],
    aad: &[u8],
    input: &[u8],
    output: &mut [u8],
) -> Result<(), CryptoError> {
    let n = input.len();
    let out = output
        .get_mut(..n + TAG)
        .ok_or_else(|| failed("no room for the GCM tag"))?;
    out[..n].copy_from_slice(input);
    let tag = aead
        .encrypt_in_place_detached(iv.into(), aad, &mut out[..n])
        .map_err(|_| failed("GCM encryption"))?;
    out[n..].copy_from_slice(&tag);
    Ok(())
}

/// AES-GCM decryption of ciphertext-then-tag `input`, authenticated with the AADs joined;
/// returns the plaintext's length.
fn gcm_open<A: AeadInPlace + AeadCore<NonceSize = U12, TagSize = U16>>(
    aead: &A,
    iv: &[u8; 12],
    aads: &[&[u8]],
    input: &[u8],
    output: &mut [u8],
) -> Result<usize, CryptoError> {
    let n = input
        .len()
        .checked_sub(TAG)
        .ok_or_else(|| failed("shorter than the GCM tag"))?;
    let out = output
        .get_mut(..n)
        .ok_or_else(|| failed("output shorter than the input"))?;
    out.copy_from_slice(&input[..n]);
    // SRTP passes one AAD, SRTCP two: join them only then.
    let joined;
    let aad = match aads {
        [one] => *one,
        _ => {
            joined = aads.concat();
            &joined
        }
    };
    aead.decrypt_in_place_detached(iv.into(), aad, out, input[n..].into())
        .map_err(|_| failed("GCM authentication"))?;
    Ok(n)
}

#[derive(Debug)]
struct Gcm128Factory;
static GCM128: Gcm128Factory = Gcm128Factory;

#[derive(Debug)]
struct Gcm256Factory;
static GCM256: Gcm256Factory = Gcm256Factory;

/// An AES-GCM cipher (128 or 256) for SRTP; its key is not shown by `Debug`.
struct Gcm<A>(A);

impl<A> std::fmt::Debug for Gcm<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gcm")
    }
}

impl SupportedAeadAes128Gcm for Gcm128Factory {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        Box::new(Gcm(aes_gcm::Aes128Gcm::new(&key.into())))
    }
}

impl SupportedAeadAes256Gcm for Gcm256Factory {
    fn create_cipher(&self, key: [u8; 32], _encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        Box::new(Gcm(aes_gcm::Aes256Gcm::new(&key.into())))
    }
}

/// str0m's two GCM cipher traits have the same methods: one body for both.
macro_rules! gcm_cipher {
    ($trait:ident, $aes:ty) => {
        impl $trait for Gcm<$aes> {
            fn encrypt(
                &mut self,
                iv: &[u8; 12],
                aad: &[u8],
                input: &[u8],
                output: &mut [u8],
            ) -> Result<(), CryptoError> {
                gcm_seal(&self.0, iv, aad, input, output)
            }

            fn decrypt(
                &mut self,
                iv: &[u8; 12],
                aads: &[&[u8]],
                input: &[u8],
                output: &mut [u8],
            ) -> Result<usize, CryptoError> {
                gcm_open(&self.0, iv, aads, input, output)
            }
        }
    };
}

gcm_cipher!(AeadAes128GcmCipher, aes_gcm::Aes128Gcm);
gcm_cipher!(AeadAes256GcmCipher, aes_gcm::Aes256Gcm);

#[derive(Debug)]
struct Dtls;

impl DtlsProvider for Dtls {
    /// An ECDSA P-256 key and a self-signed certificate (what browsers offer and accept).
    fn generate_certificate(&self) -> Option<DtlsCert> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).ok()?;
        let params = rcgen::CertificateParams::new(vec!["ha-sip-rs".to_owned()]).ok()?;
        let cert = params.self_signed(&key).ok()?;
        Some(DtlsCert {
            certificate: cert.der().to_vec(),
            private_key: key.serialize_der(),
        })
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // ICE has checked the browser's address before DTLS starts: no cookie exchange.
        let mut builder = dimpl::Config::builder().use_server_cookie(false);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = Arc::new(
            builder
                .build()
                .map_err(|e| CryptoError::Other(format!("DTLS set-up: {e}")))?,
        );
        let cert = cert.clone();
        let dtls = match version {
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            _ => dimpl::Dtls::new_12(config, cert, now),
        };
        Ok(Box::new(DtlsSession(dtls)))
    }
}

/// dimpl's DTLS, which already speaks str0m's words (str0m's DTLS types are dimpl's).
#[derive(Debug)]
struct DtlsSession(dimpl::Dtls);

impl DtlsInstance for DtlsSession {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<(), DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 B.2: the AES-CM keystream for the test key and IV.
    #[test]
    fn aes_cm_gives_rfc_3711_s_keystream() {
        let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C");
        let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
        let mut out = [0u8; 48];
        Cm { key }.apply(&iv, &[0u8; 48], &mut out).unwrap();
        let want: [u8; 48] = hex(
            "E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0",
        );
        assert_eq!(out, want);
    }

    #[test]
    fn gcm_round_trips_and_refuses_a_changed_byte() {
        let g = Gcm(aes_gcm::Aes128Gcm::new(&[7u8; 16].into()));
        let iv = [3u8; 12];
        let mut sealed = [0u8; 5 + TAG];
        gcm_seal(&g.0, &iv, b"header", b"hello", &mut sealed).unwrap();
        let mut plain = [0u8; 5 + TAG];
        let n = gcm_open(&g.0, &iv, &[b"head", b"er"], &sealed, &mut plain).unwrap();
        assert_eq!(&plain[..n], b"hello");
        sealed[0] ^= 1;
        assert!(gcm_open(&g.0, &iv, &[b"header"], &sealed, &mut plain).is_err());
    }

    #[test]
    fn hmac_sha1_and_sha256_give_the_rfc_values() {
        // RFC 2202, test case 2.
        let mac = Sha1Hmac.sha1_hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(mac, hex::<20>("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
        assert_eq!(
            Sha256.sha256(b"abc"),
            hex::<32>("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn a_certificate_is_made_without_aws_lc() {
        let c = Dtls.generate_certificate().expect("a certificate");
        assert!(c.certificate.len() > 200 && !c.private_key.is_empty());
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
