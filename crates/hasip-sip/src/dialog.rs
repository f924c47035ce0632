//! Dialogs (RFC 3261 §12): the state two user agents share for a call — Call-ID, tags,
//! CSeq counters, the remote target and the route set — and the in-dialog requests built
//! from it (ACK for 2xx, BYE, re-INVITE, INFO, REFER), with loose and strict routing
//! (RFC 3261 §12.2.1.1, §16.12).

use crate::message::{Contact, Message, NameAddr, Uri};

/// One side of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (empty for an RFC 2543 peer that sent none).
    pub remote_tag: String,
    /// Our last CSeq number.
    pub local_seq: u32,
    /// The peer's last CSeq number.
    pub remote_seq: Option<u32>,
    /// Our URI (From of our requests), as a name-addr without tag.
    pub local_uri: String,
    /// The peer's URI (To of our requests), as a name-addr without tag.
    pub remote_uri: String,
    /// The peer's Contact URI: where in-dialog requests go.
    pub remote_target: String,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<String>,
}

/// A name-addr written back without its tag (the tag is kept separately).
fn without_tag(a: &NameAddr<'_>) -> String {
    let mut s = match a.display_name {
        Some(d) => match d {
            crate::message::DisplayName::Quoted(q) => format!("{q} <{}>", a.uri),
            crate::message::DisplayName::Tokens(t) => format!("\"{t}\" <{}>", a.uri),
        },
        None => format!("<{}>", a.uri),
    };
    for (n, v) in a.params.iter() {
        if n.eq_ignore_ascii_case("tag") {
            continue;
        }
        s.push(';');
        s.push_str(n);
        if let Some(v) = v {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

/// The URI of a message's first Contact.
pub(crate) fn first_contact_uri(msg: &Message) -> Option<String> {
    msg.contacts().find_map(|c| match c {
        Ok(Contact::Addr(a)) => Some(a.uri.to_string()),
        Ok(Contact::Star) | Err(_) => None,
    })
}

fn record_route(msg: &Message) -> Vec<String> {
    msg.record_routes()
        .filter_map(Result::ok)
        .map(|r| {
            let mut s = format!("<{}>", r.uri);
            if !r.params.is_empty() {
                s.push(';');
                s.push_str(r.params.as_str());
            }
            s
        })
        .collect()
}

impl Dialog {
    /// The dialog a UAC gets from a response with a To tag to its `request`
    /// (RFC 3261 §12.1.2): route set = Record-Route reversed.
    pub fn from_uac(request: &Message, response: &Message) -> Option<Self> {
        let from = request.from()?.ok()?;
        let to = response.to()?.ok()?;
        let mut route_set = record_route(response);
        route_set.reverse();
        Some(Self {
            call_id: request.call_id()?.to_owned(),
            local_tag: from.tag()?.to_owned(),
            remote_tag: to.tag().unwrap_or("").to_owned(),
            local_seq: request.cseq()?.ok()?.seq,
            remote_seq: None,
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            remote_target: first_contact_uri(response).unwrap_or_else(|| to.uri.to_string()),
            route_set,
        })
    }

    /// The dialog a UAS gets from a `request` it answers with `local_tag`
    /// (RFC 3261 §12.1.1): route set = Record-Route in order.
    pub fn from_uas(request: &Message, local_tag: &str, local_seq: u32) -> Option<Self> {
        let from = request.from()?.ok()?;
        let to = request.to()?.ok()?;
        Some(Self {
            call_id: request.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().unwrap_or("").to_owned(),
            local_seq,
            remote_seq: Some(request.cseq()?.ok()?.seq),
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            remote_target: first_contact_uri(request).unwrap_or_else(|| from.uri.to_string()),
            route_set: record_route(request),
        })
    }

    /// True when `msg` (a request from the peer) belongs to this dialog.
    pub fn matches_request(&self, msg: &Message) -> bool {
        let (Some(Ok(from)), Some(Ok(to))) = (msg.from(), msg.to()) else {
            return false;
        };
        msg.call_id() == Some(self.call_id.as_str())
            && to.tag() == Some(self.local_tag.as_str())
            && from.tag().unwrap_or("") == self.remote_tag
    }

    /// The From and To header values for a request we send in this dialog.
    pub fn from_to(&self) -> (String, String) {
        let from = format!("{};tag={}", self.local_uri, self.local_tag);
        let to = if self.remote_tag.is_empty() {
            self.remote_uri.clone()
        } else {
            format!("{};tag={}", self.remote_uri, self.remote_tag)
        };
        (from, to)
    }

    /// Request-URI and Route headers for a new in-dialog request (RFC 3261 §12.2.1.1):
    /// loose routing when the first route has `lr`, strict routing otherwise.
    pub fn request_target(&self) -> (String, Vec<String>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        let loose = NameAddr::parse(first)
            .ok()
            .and_then(|r| r.uri.as_sip().map(|u| u.params.contains("lr")))
            .unwrap_or(true);
        if loose {
            (self.remote_target.clone(), self.route_set.clone())
        } else {
            let uri = NameAddr::parse(first)
                .map(|r| r.uri.to_string())
                .unwrap_or_default();
            let mut routes: Vec<String> = self.route_set[1..].to_vec();
            routes.push(format!("<{}>", self.remote_target));
            (uri, routes)
        }
    }

    /// The URI of the next hop: the first Route if any, else the Request-URI.
    pub fn next_hop(&self) -> String {
        let (ruri, routes) = self.request_target();
        routes
            .first()
            .and_then(|r| NameAddr::parse(r).ok().map(|n| n.uri.to_string()))
            .unwrap_or(ruri)
    }

    /// Takes the next local CSeq number.
    pub fn next_seq(&mut self) -> u32 {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        self.local_seq
    }

    /// Updates the remote target from a target-refresh request or response (re-INVITE,
    /// UPDATE, their 2xx).
    pub fn refresh_target(&mut self, msg: &Message) {
        if let Some(c) = first_contact_uri(msg) {
            self.remote_target = c;
        }
    }
}

/// Parses a URI as written in a dialog field.
pub fn uri_of(text: &str) -> Option<Uri<'_>> {
    NameAddr::parse(text)
        .ok()
        .map(|n| n.uri)
        .or_else(|| Uri::parse(text).ok())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn msg(text: &str) -> Message {
        Message::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
    }

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 10 INVITE
Contact: <sip:alice@192.0.2.1:5060>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Content-Length: 0

";

    #[test]
    fn uac_and_uas_views_of_one_dialog_mirror_each_other() {
        let inv = msg(INVITE);
        let ok = msg("SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: c1
CSeq: 10 INVITE
Contact: <sip:bob@192.0.2.2:5070;transport=udp>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Content-Length: 0

");
        let uac = Dialog::from_uac(&inv, &ok).unwrap();
        assert_eq!(uac.remote_target, "sip:bob@192.0.2.2:5070;transport=udp");
        assert_eq!(
            uac.route_set,
            vec!["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
        );
        assert_eq!(
            uac.from_to(),
            (
                "\"Alice\" <sip:alice@example.com>;tag=a1".into(),
                "<sip:bob@example.com>;tag=b2".into()
            )
        );
        assert_eq!(uac.next_hop(), "sip:p2.example.com;lr");

        let uas = Dialog::from_uas(&inv, "b2", 1).unwrap();
        assert_eq!(uas.remote_target, "sip:alice@192.0.2.1:5060");
        assert_eq!(
            uas.route_set,
            vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(uas.remote_seq, Some(10));
        let bye = msg("BYE sip:bob@192.0.2.2:5070 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2
From: \"Alice\" <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: c1
CSeq: 11 BYE
Content-Length: 0

");
        assert!(uas.matches_request(&bye));
        assert!(!uac.matches_request(&bye));
    }

    #[test]
    fn strict_route_puts_the_target_last() {
        let mut d = Dialog::from_uas(&msg(INVITE), "b2", 1).unwrap();
        d.route_set = vec![
            "<sip:strict.example.com>".into(),
            "<sip:p2.example.com;lr>".into(),
        ];
        let (ruri, routes) = d.request_target();
        assert_eq!(ruri, "sip:strict.example.com");
        assert_eq!(
            routes,
            vec!["<sip:p2.example.com;lr>", "<sip:alice@192.0.2.1:5060>"]
        );
        assert_eq!(d.next_seq(), 2);
    }
}
