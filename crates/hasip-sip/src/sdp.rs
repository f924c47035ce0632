//! SDP (RFC 4566) for audio calls, and the offer/answer model (RFC 3264) over the codecs
//! ha-sip-rs speaks: PCMU, PCMA, G.722, Opus, and telephone-event (RFC 4733) at 8000 and
//! 48000 Hz. Hold is expressed with `sendonly`/`inactive` (RFC 3264 §8.4).
//!
//! The parser keeps what offer/answer needs and ignores the rest (ICE, crypto, video);
//! unknown attributes are not an error. Offers stay small on purpose: ha-sip users saw
//! providers reject pjsip's 2 KB INVITEs.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

/// An audio codec we can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.722 (16 kHz audio, 8000 in SDP for historic reasons), static payload type 9.
    G722,
    /// Opus, dynamic payload type, `opus/48000/2`.
    Opus,
}

impl Codec {
    /// The encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        }
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus => 48_000,
        }
    }

    fn static_pt(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    fn channels(self) -> Option<u8> {
        match self {
            Self::Opus => Some(2),
            Self::Pcmu | Self::Pcma | Self::G722 => None,
        }
    }

    fn from_rtpmap(name: &str, rate: u32) -> Option<Self> {
        match (name.to_ascii_lowercase().as_str(), rate) {
            ("pcmu", 8000) => Some(Self::Pcmu),
            ("pcma", 8000) => Some(Self::Pcma),
            ("g722", 8000) => Some(Self::G722),
            ("opus", 48_000) => Some(Self::Opus),
            _ => None,
        }
    }

    fn from_static(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            9 => Some(Self::G722),
            _ => None,
        }
    }

    /// Parses a codec name as users write it (`pcmu`, `PCMA`, `g722`, `opus`).
    pub fn from_user(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pcmu" | "g711u" | "ulaw" => Some(Self::Pcmu),
            "pcma" | "g711a" | "alaw" => Some(Self::Pcma),
            "g722" => Some(Self::G722),
            "opus" => Some(Self::Opus),
            _ => None,
        }
    }
}

/// Media direction (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// The sender only sends (puts the other side on hold).
    SendOnly,
    /// The sender only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answer takes for an offer with this direction, given ours.
    pub fn answer_to(self, ours: Self) -> Self {
        let (they_send, they_recv) = match self {
            Self::SendRecv => (true, true),
            Self::SendOnly => (true, false),
            Self::RecvOnly => (false, true),
            Self::Inactive => (false, false),
        };
        let (we_send, we_recv) = match ours {
            Self::SendRecv => (true, true),
            Self::SendOnly => (true, false),
            Self::RecvOnly => (false, true),
            Self::Inactive => (false, false),
        };
        match (we_send && they_recv, we_recv && they_send) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }

    /// True when the side with this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// True when the side with this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// One `a=rtpmap` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name.
    pub name: String,
    /// Clock rate.
    pub rate: u32,
    /// Channels, if given.
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, …
    pub kind: String,
    /// The port (0 = rejected stream).
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, …
    pub proto: String,
    /// Payload types in preference order.
    pub formats: Vec<u8>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// `a=rtpmap` entries.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` entries (payload type, parameters).
    pub fmtps: Vec<(u8, String)>,
    /// Direction attribute (media level wins over session level).
    pub direction: Option<Direction>,
    /// `a=ptime`.
    pub ptime: Option<u32>,
    /// `a=rtcp` port.
    pub rtcp_port: Option<u16>,
    /// `a=rtcp-mux` (RFC 5761): RTCP on the RTP port.
    pub rtcp_mux: bool,
}

impl Media {
    /// The rtpmap of a payload type, or the static assignment.
    pub fn codec_of(&self, pt: u8) -> Option<(String, u32)> {
        if let Some(m) = self.rtpmaps.iter().find(|m| m.pt == pt) {
            return Some((m.name.clone(), m.rate));
        }
        Codec::from_static(pt).map(|c| (c.name().to_owned(), c.clock_rate()))
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=` username.
    pub origin_user: String,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version.
    pub session_version: u64,
    /// `o=` address.
    pub origin_addr: IpAddr,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction.
    pub direction: Option<Direction>,
    /// Media sections.
    pub media: Vec<Media>,
}

/// Why a description could not be read or negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// A line that does not follow `x=value`, or a malformed mandatory line.
    Malformed(String),
    /// No audio stream, or no codec in common (answer with 488).
    NoCommonCodec,
    /// No connection address for the audio stream.
    NoAddress,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(l) => write!(f, "malformed SDP line {l:?}"),
            Self::NoCommonCodec => f.write_str("no audio codec in common"),
            Self::NoAddress => f.write_str("no connection address for the audio stream"),
        }
    }
}

impl std::error::Error for SdpError {}

fn parse_addr(value: &str) -> Result<IpAddr, SdpError> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut parts = value.split_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::Malformed(format!("c={value}")));
    };
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| SdpError::Malformed(format!("c={value}")))
}

impl SessionDescription {
    /// Parses SDP text (CRLF or LF line ends).
    ///
    /// # Errors
    /// When a mandatory line is malformed.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut sd = Self {
            origin_user: "-".into(),
            session_id: 0,
            session_version: 0,
            origin_addr: IpAddr::from([0, 0, 0, 0]),
            connection: None,
            direction: None,
            media: Vec::new(),
        };
        let mut saw_version = false;
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let Some((kind, value)) = line.split_once('=') else {
                return Err(SdpError::Malformed(line.into()));
            };
            let in_media = !sd.media.is_empty();
            match kind {
                "v" => saw_version = value.trim() == "0",
                "o" => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 6 {
                        return Err(SdpError::Malformed(line.into()));
                    }
                    sd.origin_user = f[0].into();
                    sd.session_id = f[1].parse().unwrap_or(0);
                    sd.session_version = f[2].parse().unwrap_or(0);
                    sd.origin_addr = f[5].parse().unwrap_or(sd.origin_addr);
                }
                "c" => {
                    let addr = parse_addr(value)?;
                    match sd.media.last_mut() {
                        Some(m) => m.connection = Some(addr),
                        None => sd.connection = Some(addr),
                    }
                }
                "m" => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() < 3 {
                        return Err(SdpError::Malformed(line.into()));
                    }
                    let port = f[1]
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .parse()
                        .map_err(|_| SdpError::Malformed(line.into()))?;
                    sd.media.push(Media {
                        kind: f[0].into(),
                        port,
                        proto: f[2].into(),
                        formats: f[3..].iter().filter_map(|p| p.parse().ok()).collect(),
                        connection: None,
                        rtpmaps: Vec::new(),
                        fmtps: Vec::new(),
                        direction: None,
                        ptime: None,
                        rtcp_port: None,
                        rtcp_mux: false,
                    });
                }
                "a" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    if let Some(d) = dir {
                        match sd.media.last_mut() {
                            Some(m) => m.direction = Some(d),
                            None => sd.direction = Some(d),
                        }
                        continue;
                    }
                    let Some(m) = sd.media.last_mut().filter(|_| in_media) else {
                        continue;
                    };
                    match name {
                        "rtpmap" => {
                            if let Some(map) = parse_rtpmap(arg) {
                                m.rtpmaps.push(map);
                            }
                        }
                        "fmtp" => {
                            if let Some((pt, params)) = arg.split_once(' ')
                                && let Ok(pt) = pt.parse()
                            {
                                m.fmtps.push((pt, params.trim().into()));
                            }
                        }
                        "ptime" => m.ptime = arg.trim().parse().ok(),
                        "rtcp" => {
                            m.rtcp_port = arg.split_whitespace().next().and_then(|p| p.parse().ok())
                        }
                        "rtcp-mux" => m.rtcp_mux = true,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(SdpError::Malformed("missing v=0".into()));
        }
        Ok(sd)
    }

    /// The first audio stream.
    pub fn audio(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.kind == "audio")
    }
}

fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, rest) = arg.split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let name = parts.next()?.to_owned();
    let rate = parts.next()?.parse().ok()?;
    let channels = parts.next().and_then(|c| c.parse().ok());
    Some(RtpMap {
        pt: pt.parse().ok()?,
        name,
        rate,
        channels,
    })
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = |a: &IpAddr| if a.is_ipv6() { "IP6" } else { "IP4" };
        write!(f, "v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            self.origin_user,
            self.session_id,
            self.session_version,
            ip(&self.origin_addr),
            self.origin_addr
        )?;
        write!(f, "s=ha-sip-rs\r\n")?;
        if let Some(c) = &self.connection {
            write!(f, "c=IN {} {c}\r\n", ip(c))?;
        }
        write!(f, "t=0 0\r\n")?;
        for m in &self.media {
            let mut fmts = String::new();
            for p in &m.formats {
                let _ = write!(fmts, " {p}");
            }
            write!(f, "m={} {} {}{fmts}\r\n", m.kind, m.port, m.proto)?;
            if let Some(c) = &m.connection {
                write!(f, "c=IN {} {c}\r\n", ip(c))?;
            }
            for r in &m.rtpmaps {
                match r.channels {
                    Some(ch) => write!(f, "a=rtpmap:{} {}/{}/{ch}\r\n", r.pt, r.name, r.rate)?,
                    None => write!(f, "a=rtpmap:{} {}/{}\r\n", r.pt, r.name, r.rate)?,
                }
            }
            for (pt, p) in &m.fmtps {
                write!(f, "a=fmtp:{pt} {p}\r\n")?;
            }
            if let Some(p) = m.ptime {
                write!(f, "a=ptime:{p}\r\n")?;
            }
            if let Some(d) = m.direction {
                write!(f, "a={}\r\n", d.attr())?;
            }
            if m.rtcp_mux {
                write!(f, "a=rtcp-mux\r\n")?;
            }
        }
        Ok(())
    }
}

/// What was agreed for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Its payload type (the answerer's numbering is the offerer's, RFC 3264 §6.1).
    pub pt: u8,
    /// telephone-event payload type and clock rate, if both sides support it.
    pub telephone_event: Option<(u8, u32)>,
    /// Where to send RTP (`None` when the remote is on hold with a null address).
    pub remote: Option<SocketAddr>,
    /// Our direction.
    pub direction: Direction,
    /// Packet time in ms.
    pub ptime: u32,
    /// RTCP shares the RTP port (both sides said `a=rtcp-mux`).
    pub rtcp_mux: bool,
}

/// The local side of an offer or answer.
#[derive(Debug, Clone)]
pub struct Local {
    /// Our RTP address.
    pub addr: SocketAddr,
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    /// `o=` session id and version.
    pub session_id: u64,
    /// `o=` version (increment on every new offer of the same session).
    pub version: u64,
    /// What we want (sendrecv normally; sendonly to put the peer on hold).
    pub direction: Direction,
}

/// Dynamic payload types we use in offers.
const PT_OPUS: u8 = 111;
const PT_TE_8000: u8 = 101;
const PT_TE_48000: u8 = 102;

/// Builds an offer for one audio stream.
pub fn offer(local: &Local) -> SessionDescription {
    let mut formats = Vec::new();
    let mut rtpmaps = Vec::new();
    let mut fmtps = Vec::new();
    for c in &local.codecs {
        let pt = c.static_pt().unwrap_or(PT_OPUS);
        formats.push(pt);
        rtpmaps.push(RtpMap {
            pt,
            name: c.name().into(),
            rate: c.clock_rate(),
            channels: c.channels(),
        });
        if *c == Codec::Opus {
            fmtps.push((pt, "useinbandfec=1".into()));
        }
    }
    let has_opus = local.codecs.contains(&Codec::Opus);
    let has_8k = local.codecs.iter().any(|c| c.clock_rate() == 8000);
    for (pt, rate, want) in [(PT_TE_8000, 8000, has_8k), (PT_TE_48000, 48_000, has_opus)] {
        if want {
            formats.push(pt);
            rtpmaps.push(RtpMap {
                pt,
                name: "telephone-event".into(),
                rate,
                channels: None,
            });
            fmtps.push((pt, "0-16".into()));
        }
    }
    SessionDescription {
        origin_user: "-".into(),
        session_id: local.session_id,
        session_version: local.version,
        origin_addr: local.addr.ip(),
        connection: Some(local.addr.ip()),
        direction: None,
        media: vec![Media {
            kind: "audio".into(),
            port: local.addr.port(),
            proto: "RTP/AVP".into(),
            formats,
            connection: None,
            rtpmaps,
            fmtps,
            direction: Some(local.direction),
            ptime: Some(20),
            rtcp_port: None,
            // Offered (RFC 5761 §5.1.1); RTCP moves to the RTP port only if the answer
            // has it too.
            rtcp_mux: true,
        }],
    }
}

fn remote_addr(sd: &SessionDescription, m: &Media) -> Result<Option<SocketAddr>, SdpError> {
    let ip = m.connection.or(sd.connection).ok_or(SdpError::NoAddress)?;
    // RFC 3264 §8.4: a zero address (old-style hold) means "send nothing".
    if ip.is_unspecified() || m.port == 0 {
        return Ok(None);
    }
    Ok(Some(SocketAddr::new(ip, m.port)))
}

/// The telephone-event format to use with a codec clocked at `rate`: the one at that rate
/// (RFC 4733 §7.1.1), else any other, as phones commonly pair `telephone-event/8000` with
/// Opus at 48000.
fn find_te(m: &Media, rate: u32) -> Option<(u8, u32)> {
    let te: Vec<(u8, u32)> = m
        .formats
        .iter()
        .filter_map(|pt| {
            m.rtpmaps
                .iter()
                .find(|r| r.pt == *pt && r.name.eq_ignore_ascii_case("telephone-event"))
                .map(|r| (*pt, r.rate))
        })
        .collect();
    te.iter()
        .find(|(_, r)| *r == rate)
        .or_else(|| te.first())
        .copied()
}

/// Answers an offer: picks the first of our codecs (in our preference order) that the
/// offer contains, keeps the offerer's payload numbers, and mirrors the direction.
///
/// # Errors
/// [`SdpError::NoCommonCodec`] when there is no audio stream or no codec in common.
pub fn answer(
    offer: &SessionDescription,
    local: &Local,
) -> Result<(SessionDescription, Negotiated), SdpError> {
    let m = offer.audio().ok_or(SdpError::NoCommonCodec)?;
    let offered: Vec<(u8, Codec)> = m
        .formats
        .iter()
        .filter_map(|pt| {
            m.codec_of(*pt)
                .and_then(|(n, r)| Codec::from_rtpmap(&n, r))
                .map(|c| (*pt, c))
        })
        .collect();
    let (pt, codec) = local
        .codecs
        .iter()
        .find_map(|want| offered.iter().find(|(_, c)| c == want).copied())
        .ok_or(SdpError::NoCommonCodec)?;
    let te = find_te(m, codec.clock_rate());
    let their_dir = m.direction.or(offer.direction).unwrap_or_default();
    let direction = their_dir.answer_to(local.direction);
    let ptime = m.ptime.unwrap_or(20);
    let mut formats = vec![pt];
    let mut rtpmaps = vec![RtpMap {
        pt,
        name: codec.name().into(),
        rate: codec.clock_rate(),
        channels: codec.channels(),
    }];
    let mut fmtps = Vec::new();
    if let Some((tpt, rate)) = te {
        formats.push(tpt);
        rtpmaps.push(RtpMap {
            pt: tpt,
            name: "telephone-event".into(),
            rate,
            channels: None,
        });
        fmtps.push((tpt, "0-16".into()));
    }
    let remote = remote_addr(offer, m)?;
    let sd = SessionDescription {
        origin_user: "-".into(),
        session_id: local.session_id,
        session_version: local.version,
        origin_addr: local.addr.ip(),
        connection: Some(local.addr.ip()),
        direction: None,
        media: vec![Media {
            kind: "audio".into(),
            port: local.addr.port(),
            proto: m.proto.clone(),
            formats,
            connection: None,
            rtpmaps,
            fmtps,
            direction: Some(direction),
            ptime: Some(ptime),
            rtcp_port: None,
            rtcp_mux: m.rtcp_mux,
        }],
    };
    Ok((
        sd,
        Negotiated {
            codec,
            pt,
            telephone_event: te,
            remote,
            direction,
            ptime,
            rtcp_mux: m.rtcp_mux,
        },
    ))
}

/// Reads the answer to our offer.
///
/// # Errors
/// [`SdpError::NoCommonCodec`] when the answer names no codec we offered.
pub fn accept_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, SdpError> {
    let ours = our_offer.audio().ok_or(SdpError::NoCommonCodec)?;
    let m = answer.audio().ok_or(SdpError::NoCommonCodec)?;
    let (pt, codec) = m
        .formats
        .iter()
        .find_map(|pt| {
            let (n, r) = m.codec_of(*pt)?;
            let c = Codec::from_rtpmap(&n, r)?;
            ours.rtpmaps
                .iter()
                .any(|o| Codec::from_rtpmap(&o.name, o.rate) == Some(c))
                .then_some((*pt, c))
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let te = find_te(m, codec.clock_rate());
    let their_dir = m.direction.or(answer.direction).unwrap_or_default();
    let our_dir = ours.direction.unwrap_or_default();
    Ok(Negotiated {
        codec,
        pt,
        telephone_event: te,
        remote: remote_addr(answer, m)?,
        direction: their_dir.answer_to(our_dir),
        ptime: m.ptime.unwrap_or(20),
        rtcp_mux: m.rtcp_mux && ours.rtcp_mux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(codecs: &[Codec]) -> Local {
        Local {
            addr: "127.0.0.1:4000".parse().unwrap(),
            codecs: codecs.to_vec(),
            session_id: 42,
            version: 1,
            direction: Direction::SendRecv,
        }
    }

    const BARESIP_OFFER: &str = "v=0\r\no=- 1146346389 2917034187 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 16012 RTP/AVP 0 8 101\r\nb=AS:64\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\na=ssrc:12345 cname:x\r\na=rtcp-rsize\r\n";

    #[test]
    fn answers_with_our_preference_and_their_payload_numbers() {
        let offer = SessionDescription::parse(BARESIP_OFFER).unwrap();
        let (sd, n) = answer(&offer, &local(&[Codec::Pcma, Codec::Pcmu])).unwrap();
        assert_eq!((n.codec, n.pt), (Codec::Pcma, 8));
        assert_eq!(n.telephone_event, Some((101, 8000)));
        assert_eq!(n.remote, Some("127.0.0.1:16012".parse().unwrap()));
        assert_eq!(n.direction, Direction::SendRecv);
        let text = sd.to_string();
        assert!(text.contains("m=audio 4000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        // Our own output parses back to the same description.
        assert_eq!(SessionDescription::parse(&text).unwrap(), sd);
    }

    #[test]
    fn rtcp_mux_is_offered_and_taken_only_when_both_sides_say_so() {
        let ours = offer(&local(&[Codec::Pcmu]));
        assert!(ours.to_string().contains("a=rtcp-mux\r\n"));
        // An offer without it: the answer leaves it out, RTCP stays on port + 1.
        let plain = SessionDescription::parse(BARESIP_OFFER).unwrap();
        let (sd, n) = answer(&plain, &local(&[Codec::Pcmu])).unwrap();
        assert!(!n.rtcp_mux && !sd.to_string().contains("rtcp-mux"));
        // An offer with it: accepted (RFC 5761 §5.1.1).
        let muxed = SessionDescription::parse(&format!("{BARESIP_OFFER}a=rtcp-mux\r\n")).unwrap();
        let (sd, n) = answer(&muxed, &local(&[Codec::Pcmu])).unwrap();
        assert!(n.rtcp_mux && sd.to_string().contains("a=rtcp-mux\r\n"));
        // The answer to our offer decides.
        assert!(accept_answer(&ours, &sd).unwrap().rtcp_mux);
        let (plain_answer, _) = answer(&plain, &local(&[Codec::Pcmu])).unwrap();
        assert!(!accept_answer(&ours, &plain_answer).unwrap().rtcp_mux);
    }

    #[test]
    fn no_common_codec_and_hold() {
        let g729 = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        let offer = SessionDescription::parse(g729).unwrap();
        assert_eq!(
            answer(&offer, &local(&[Codec::Pcmu])).unwrap_err(),
            SdpError::NoCommonCodec
        );
        let hold = BARESIP_OFFER.replace("a=sendrecv", "a=sendonly");
        let (_, n) = answer(
            &SessionDescription::parse(&hold).unwrap(),
            &local(&[Codec::Pcmu]),
        )
        .unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        let old_hold = BARESIP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let (_, n) = answer(
            &SessionDescription::parse(&old_hold).unwrap(),
            &local(&[Codec::Pcmu]),
        )
        .unwrap();
        assert_eq!(n.remote, None);
    }

    #[test]
    fn offer_is_small_and_round_trips_through_an_answer() {
        let ours = offer(&local(&[
            Codec::Opus,
            Codec::G722,
            Codec::Pcma,
            Codec::Pcmu,
        ]));
        let text = ours.to_string();
        assert!(text.len() < 400, "{} bytes:\n{text}", text.len());
        assert!(
            text.contains("m=audio 4000 RTP/AVP 111 9 8 0 101 102\r\n"),
            "{text}"
        );
        let peer = Local {
            addr: "192.0.2.7:7000".parse().unwrap(),
            ..local(&[Codec::Pcmu])
        };
        let (their_answer, n_peer) =
            answer(&SessionDescription::parse(&text).unwrap(), &peer).unwrap();
        let n = accept_answer(
            &ours,
            &SessionDescription::parse(&their_answer.to_string()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (n.codec, n.pt, n.telephone_event),
            (Codec::Pcmu, 0, Some((101, 8000)))
        );
        assert_eq!(n.remote, Some("192.0.2.7:7000".parse().unwrap()));
        assert_eq!(n_peer.remote, Some("127.0.0.1:4000".parse().unwrap()));
        // Opus negotiates telephone-event at 48 kHz.
        let opus_peer = Local {
            codecs: vec![Codec::Opus],
            ..peer
        };
        let (_, n) = answer(&SessionDescription::parse(&text).unwrap(), &opus_peer).unwrap();
        assert_eq!(
            (n.codec, n.pt, n.telephone_event),
            (Codec::Opus, 111, Some((102, 48_000)))
        );
        // A phone that answers Opus with telephone-event/8000 only (baresip does): its
        // digits are still taken, at 8000.
        let baresip = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 7000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n";
        let n = accept_answer(&ours, &SessionDescription::parse(baresip).unwrap()).unwrap();
        assert_eq!(
            (n.codec, n.pt, n.telephone_event),
            (Codec::Opus, 111, Some((101, 8000)))
        );
    }

    #[test]
    fn direction_algebra() {
        use Direction::*;
        assert_eq!(SendOnly.answer_to(SendRecv), RecvOnly);
        assert_eq!(RecvOnly.answer_to(SendRecv), SendOnly);
        assert_eq!(Inactive.answer_to(SendRecv), Inactive);
        assert_eq!(SendRecv.answer_to(SendOnly), SendOnly);
    }

    #[test]
    fn malformed_sdp_is_an_error_not_a_panic() {
        assert!(SessionDescription::parse("garbage").is_err());
        assert!(SessionDescription::parse("v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
        assert!(SessionDescription::parse("v=0\r\nc=IN IP4 nope\r\n").is_err());
        assert!(SessionDescription::parse("").is_err());
    }
}
