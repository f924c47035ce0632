//! HTTP digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760): MD5, SHA-256 and
//! SHA-512/256, their `-sess` variants, `qop` `auth` and `auth-int`, nonce counts, and the
//! choice of the strongest challenge when a response carries several.

use std::fmt::{self, Write as _};

use md5::{Digest as _, Md5};
use sha2::{Sha256, Sha512_256};

use crate::message::values::AuthParams;

/// A digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617), also when no algorithm is named.
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
    /// SHA-512/256 (RFC 7616, RFC 8760).
    Sha512_256,
}

impl Algorithm {
    fn hash(self, data: &[u8]) -> String {
        fn hex(bytes: &[u8]) -> String {
            let mut s = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                let _ = write!(s, "{b:02x}");
            }
            s
        }
        match self {
            Self::Md5 => hex(&Md5::digest(data)),
            Self::Sha256 => hex(&Sha256::digest(data)),
            Self::Sha512_256 => hex(&Sha512_256::digest(data)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
            Self::Sha512_256 => "SHA-512-256",
        }
    }
}

/// Quality of protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    /// Authenticate the request line.
    Auth,
    /// Also protect the body.
    AuthInt,
}

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeError {
    /// Not the `Digest` scheme.
    NotDigest(String),
    /// An algorithm we do not implement.
    UnsupportedAlgorithm(String),
    /// No `nonce` or no `realm`.
    Incomplete,
    /// `qop` offers nothing we implement.
    UnsupportedQop(String),
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDigest(s) => write!(f, "authentication scheme {s:?} is not Digest"),
            Self::UnsupportedAlgorithm(a) => write!(f, "digest algorithm {a:?} is not supported"),
            Self::Incomplete => f.write_str("challenge without realm or nonce"),
            Self::UnsupportedQop(q) => write!(f, "qop {q:?} offers neither auth nor auth-int"),
        }
    }
}

impl std::error::Error for ChallengeError {}

/// A parsed digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The realm.
    pub realm: String,
    /// The server nonce.
    pub nonce: String,
    /// Opaque data to echo.
    pub opaque: Option<String>,
    /// The hash algorithm.
    pub algorithm: Algorithm,
    /// True for a `-sess` algorithm.
    pub session: bool,
    /// The qop chosen from the offered list (`auth` preferred), or `None` (RFC 2069 style).
    pub qop: Option<Qop>,
    /// `stale=true`: the credentials were right but the nonce expired.
    pub stale: bool,
}

impl Challenge {
    /// Reads a `WWW-Authenticate`/`Proxy-Authenticate` value.
    ///
    /// # Errors
    /// When the challenge is not a digest challenge we can answer.
    pub fn parse(params: &AuthParams<'_>) -> Result<Self, ChallengeError> {
        if !params.scheme.eq_ignore_ascii_case("Digest") {
            return Err(ChallengeError::NotDigest(params.scheme.to_owned()));
        }
        let realm = params
            .get("realm")
            .ok_or(ChallengeError::Incomplete)?
            .into_owned();
        let nonce = params
            .get("nonce")
            .ok_or(ChallengeError::Incomplete)?
            .into_owned();
        let alg_text = params
            .get("algorithm")
            .map(|a| a.into_owned())
            .unwrap_or_else(|| "MD5".into());
        let upper = alg_text.to_ascii_uppercase();
        let (base, session) = match upper.strip_suffix("-SESS") {
            Some(b) => (b.to_owned(), true),
            None => (upper.clone(), false),
        };
        let algorithm = match base.as_str() {
            "MD5" => Algorithm::Md5,
            "SHA-256" => Algorithm::Sha256,
            "SHA-512-256" => Algorithm::Sha512_256,
            _ => return Err(ChallengeError::UnsupportedAlgorithm(alg_text)),
        };
        let qop = match params.get("qop") {
            None => None,
            Some(list) => {
                let offered: Vec<String> = list
                    .split(',')
                    .map(|q| q.trim().to_ascii_lowercase())
                    .collect();
                if offered.iter().any(|q| q == "auth") {
                    Some(Qop::Auth)
                } else if offered.iter().any(|q| q == "auth-int") {
                    Some(Qop::AuthInt)
                } else {
                    return Err(ChallengeError::UnsupportedQop(list.into_owned()));
                }
            }
        };
        Ok(Self {
            realm,
            nonce,
            opaque: params.get("opaque").map(|o| o.into_owned()),
            algorithm,
            session,
            qop,
            stale: params
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Picks the strongest challenge we can answer (RFC 8760 §2.4: SHA-512/256 over
    /// SHA-256 over MD5), ignoring those we cannot.
    ///
    /// # Errors
    /// When none can be answered, the reason for the first.
    pub fn choose<'a>(
        offers: impl IntoIterator<Item = AuthParams<'a>>,
    ) -> Result<Self, ChallengeError> {
        let mut best: Option<Challenge> = None;
        let mut first_err = None;
        for p in offers {
            match Self::parse(&p) {
                Ok(c) => {
                    if best.as_ref().is_none_or(|b| c.algorithm > b.algorithm) {
                        best = Some(c);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        best.ok_or(first_err.unwrap_or(ChallengeError::Incomplete))
    }
}

/// What a request contributes to the digest.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a str,
    /// The exact Request-URI sent.
    pub uri: &'a str,
    /// The body (for `auth-int`).
    pub body: &'a [u8],
}

/// Computes the `Authorization`/`Proxy-Authorization` value for `challenge`.
///
/// `nc` is the nonce count for this nonce (1 for its first use) and `cnonce` a fresh
/// client nonce; both are only sent when the challenge has a qop.
pub fn authorization(
    challenge: &Challenge,
    username: &str,
    password: &str,
    request: RequestParts<'_>,
    nc: u32,
    cnonce: &str,
) -> String {
    let alg = challenge.algorithm;
    let mut ha1 = alg.hash(format!("{username}:{}:{password}", challenge.realm).as_bytes());
    if challenge.session {
        ha1 = alg.hash(format!("{ha1}:{}:{cnonce}", challenge.nonce).as_bytes());
    }
    let ha2 = match challenge.qop {
        Some(Qop::AuthInt) => alg.hash(
            format!(
                "{}:{}:{}",
                request.method,
                request.uri,
                alg.hash(request.body)
            )
            .as_bytes(),
        ),
        _ => alg.hash(format!("{}:{}", request.method, request.uri).as_bytes()),
    };
    let nc_text = format!("{nc:08x}");
    let response = match challenge.qop {
        Some(q) => {
            let qop = if q == Qop::Auth { "auth" } else { "auth-int" };
            alg.hash(format!("{ha1}:{}:{nc_text}:{cnonce}:{qop}:{ha2}", challenge.nonce).as_bytes())
        }
        None => alg.hash(format!("{ha1}:{}:{ha2}", challenge.nonce).as_bytes()),
    };
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\"",
        quote(username),
        quote(&challenge.realm),
        quote(&challenge.nonce),
        quote(request.uri),
    );
    let alg_name = if challenge.session {
        format!("{}-sess", alg.name())
    } else {
        alg.name().to_owned()
    };
    let _ = write!(v, ", algorithm={alg_name}");
    if let Some(o) = &challenge.opaque {
        let _ = write!(v, ", opaque=\"{}\"", quote(o));
    }
    if let Some(q) = challenge.qop {
        let qop = if q == Qop::Auth { "auth" } else { "auth-int" };
        let _ = write!(v, ", qop={qop}, nc={nc_text}, cnonce=\"{}\"", quote(cnonce));
    }
    v
}

/// Escapes `"` and `\` for a quoted-string.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(text: &str) -> Challenge {
        Challenge::parse(&AuthParams::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn rfc7616_3_9_1_md5_and_sha256_vectors() {
        let parts = RequestParts {
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        for (alg, expected) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let c = challenge(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            ));
            assert_eq!(c.qop, Some(Qop::Auth));
            let v = authorization(&c, "Mufasa", "Circle of Life", parts, 1, cnonce);
            assert!(
                v.contains(&format!("response=\"{expected}\"")),
                "{alg}: {v}"
            );
            assert!(v.contains("nc=00000001"), "{v}");
            assert!(v.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        }
    }

    #[test]
    fn rfc2617_3_5_md5_vector() {
        let c = challenge(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        );
        let v = authorization(
            &c,
            "Mufasa",
            "Circle Of Life",
            RequestParts {
                method: "GET",
                uri: "/dir/index.html",
                body: b"",
            },
            1,
            "0a4f113b",
        );
        assert!(
            v.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{v}"
        );
    }

    #[test]
    fn strongest_supported_challenge_wins_and_unknown_ones_are_skipped() {
        let offers = [
            "Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth,auth-int\"",
            "Digest realm=\"r\", nonce=\"n3\", algorithm=AKAv1-MD5",
            "Basic realm=\"r\"",
        ];
        let c = Challenge::choose(offers.iter().map(|o| AuthParams::parse(o).unwrap())).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.nonce, "n2");
        let none = Challenge::choose([AuthParams::parse(
            "Digest realm=\"r\", nonce=\"n\", algorithm=AKAv1-MD5",
        )
        .unwrap()]);
        assert_eq!(
            none,
            Err(ChallengeError::UnsupportedAlgorithm("AKAv1-MD5".into()))
        );
    }

    #[test]
    fn stale_sess_and_no_qop() {
        let c =
            challenge("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256-sess, stale=TRUE");
        assert!(c.stale && c.session);
        assert_eq!(c.algorithm, Algorithm::Sha512_256);
        assert_eq!(c.qop, None);
        let v = authorization(
            &c,
            "u",
            "p",
            RequestParts {
                method: "REGISTER",
                uri: "sip:r",
                body: b"",
            },
            1,
            "c",
        );
        assert!(
            v.contains("algorithm=SHA-512-256-sess") && !v.contains("qop="),
            "{v}"
        );
        // RFC 2069 compatibility (no qop): response = H(HA1:nonce:HA2).
        let m = challenge("Digest realm=\"r\", nonce=\"n\"");
        let v = authorization(
            &m,
            "u",
            "p",
            RequestParts {
                method: "REGISTER",
                uri: "sip:r",
                body: b"",
            },
            1,
            "c",
        );
        let ha1 = Algorithm::Md5.hash(b"u:r:p");
        let ha2 = Algorithm::Md5.hash(b"REGISTER:sip:r");
        let expected = Algorithm::Md5.hash(format!("{ha1}:n:{ha2}").as_bytes());
        assert!(v.contains(&expected), "{v}");
    }

    #[test]
    fn auth_int_hashes_the_body() {
        let c = challenge("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
        assert_eq!(c.qop, Some(Qop::AuthInt));
        let a = authorization(
            &c,
            "u",
            "p",
            RequestParts {
                method: "INVITE",
                uri: "sip:b",
                body: b"x",
            },
            1,
            "c",
        );
        let b = authorization(
            &c,
            "u",
            "p",
            RequestParts {
                method: "INVITE",
                uri: "sip:b",
                body: b"y",
            },
            1,
            "c",
        );
        assert_ne!(a, b);
        assert!(a.contains("qop=auth-int"));
    }
}
