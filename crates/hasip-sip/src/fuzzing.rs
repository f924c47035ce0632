//! Entry points for fuzzing and for replaying the fuzz corpus in ordinary tests: each runs
//! every parser, validator and typed view over arbitrary input. Not part of the API.

use bytes::Bytes;

use crate::message::framing::StreamFramer;
use crate::message::validate::{Policy, validate_request, validate_response};
use crate::message::{HeaderName, Message, Method};

/// Parses `data` as one datagram and reads everything that can be read from it.
pub fn message(data: &[u8]) {
    let policy = Policy {
        allowed: &[Method::Options, Method::Invite, Method::Bye],
        supported: &["timer", "replaces"],
        accepted_bodies: &["application/sdp"],
    };
    let Ok(m) = Message::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    let _ = validate_request(&m, &policy);
    let _ = validate_response(&m);
    let _ = m
        .request_uri()
        .map(|u| u.map(|u| (u.to_string(), u.user())));
    for via in m.vias().flatten() {
        let _ = (
            via.branch(),
            via.rport(),
            via.received(),
            via.host.to_string(),
        );
    }
    for c in m.contacts().flatten() {
        let _ = c;
    }
    for a in [m.from(), m.to()].into_iter().flatten().flatten() {
        let _ = (
            a.tag(),
            a.display_name.map(|d| d.text()),
            a.uri.to_string(),
            a.uri.user(),
        );
    }
    let _ = (
        m.cseq(),
        m.max_forwards(),
        m.expires(),
        m.min_expires(),
        m.retry_after(),
    );
    for name in [
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
        HeaderName::Authorization,
    ] {
        for c in m.challenges(name).flatten() {
            let _ = c.iter().count();
        }
    }
    let _ = (
        m.record_routes().count(),
        m.routes().count(),
        m.tokens(HeaderName::Require).count(),
    );
}

/// Feeds `data` to a stream framer in two pieces split at its first byte's value, and
/// parses every frame.
pub fn framing(data: &[u8]) {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut f = StreamFramer::new(16 * 1024);
    for part in [&data[..split], &data[split..]] {
        f.push(part);
        while let Some(frame) = f.next_frame() {
            match frame {
                Ok(crate::message::framing::Frame::Message(m)) => message(&m),
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}
