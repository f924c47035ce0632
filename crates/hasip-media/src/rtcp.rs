//! RTCP (RFC 3550 §6): the minimal set a telephony endpoint needs — sender and receiver
//! reports, SDES with CNAME, and BYE — as borrowed views for reading compound packets and
//! writers that append to a reused buffer. Parsing never panics.

use std::fmt;

/// Packet type of a sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// Packet type of source description items (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// Packet type of BYE (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// SDES item type CNAME (RFC 3550 §6.5.1).
pub const SDES_CNAME: u8 = 1;

const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// Why bytes are not (or stop being) a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpError {
    /// Shorter than a header, or than the length a header announces.
    Truncated,
    /// The version field is not 2.
    Version(u8),
    /// A count or padding that does not fit the packet.
    Malformed,
}

impl fmt::Display for RtcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("RTCP packet truncated"),
            Self::Version(v) => write!(f, "RTCP version {v}, expected 2"),
            Self::Malformed => f.write_str("RTCP count or padding out of range"),
        }
    }
}

impl std::error::Error for RtcpError {}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low 32).
    pub ntp: u64,
    /// The RTP timestamp that corresponds to `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent since the start.
    pub packet_count: u32,
    /// Payload octets sent since the start.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed; duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (0 if none).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn read(b: &[u8]) -> Self {
        let lost = (i32::from(b[5]) << 16) | (i32::from(b[6]) << 8) | i32::from(b[7]);
        // Sign-extend the 24-bit field.
        let cumulative_lost = (lost << 8) >> 8;
        Self {
            ssrc: be32(&b[0..4]),
            fraction_lost: b[4],
            cumulative_lost,
            highest_sequence: be32(&b[8..12]),
            jitter: be32(&b[12..16]),
            last_sr: be32(&b[16..20]),
            delay_since_last_sr: be32(&b[20..24]),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(self.fraction_lost);
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF);
        out.extend_from_slice(&lost.to_be_bytes()[1..4]);
        out.extend_from_slice(&self.highest_sequence.to_be_bytes());
        out.extend_from_slice(&self.jitter.to_be_bytes());
        out.extend_from_slice(&self.last_sr.to_be_bytes());
        out.extend_from_slice(&self.delay_since_last_sr.to_be_bytes());
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// The report blocks of an SR or RR, read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a>(&'a [u8]);

impl<'a> ReportBlocks<'a> {
    /// The blocks in order.
    pub fn iter(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.0.chunks_exact(REPORT_BLOCK_LEN).map(ReportBlock::read)
    }
}

/// The chunks of an SDES packet (RFC 3550 §6.5), read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    count: u8,
    body: &'a [u8],
}

impl<'a> Sdes<'a> {
    /// Each chunk's source and its items `(type, value)`; reading stops at the first chunk
    /// that does not fit.
    pub fn chunks(&self) -> impl Iterator<Item = (u32, SdesItems<'a>)> + 'a {
        let mut rest = self.body;
        let mut left = self.count;
        std::iter::from_fn(move || {
            if left == 0 || rest.len() < 4 {
                return None;
            }
            left -= 1;
            let ssrc = be32(rest);
            let items_start = &rest[4..];
            // Items run to a zero type byte; the chunk is then padded to 32 bits.
            let mut i = 0;
            while i < items_start.len() && items_start[i] != 0 {
                let len = usize::from(*items_start.get(i + 1)?);
                i += 2 + len;
            }
            let items = items_start.get(..i)?;
            let chunk_len = (4 + i + 1).div_ceil(4) * 4;
            rest = rest.get(chunk_len..).unwrap_or(&[]);
            Some((ssrc, SdesItems(items)))
        })
    }

    /// The CNAME of `ssrc`, if the packet carries one.
    pub fn cname(&self, ssrc: u32) -> Option<&'a [u8]> {
        self.chunks()
            .filter(|(s, _)| *s == ssrc)
            .find_map(|(_, items)| {
                items
                    .iter()
                    .find_map(|(t, v)| (t == SDES_CNAME).then_some(v))
            })
    }
}

/// The items of one SDES chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItems<'a>(&'a [u8]);

impl<'a> SdesItems<'a> {
    /// `(type, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let (&t, tail) = rest.split_first()?;
            let (&len, tail) = tail.split_first()?;
            let value = tail.get(..usize::from(len))?;
            rest = &tail[usize::from(len)..];
            Some((t, value))
        })
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// A sender report.
    SenderReport {
        /// The sender.
        ssrc: u32,
        /// Its sender information.
        info: SenderInfo,
        /// Reception reports.
        blocks: ReportBlocks<'a>,
    },
    /// A receiver report.
    ReceiverReport {
        /// The reporter.
        ssrc: u32,
        /// Reception reports.
        blocks: ReportBlocks<'a>,
    },
    /// Source descriptions.
    Sdes(Sdes<'a>),
    /// Sources leaving the session.
    Bye {
        /// Their SSRCs, 4 bytes each.
        ssrcs: &'a [u8],
        /// The reason text, if given.
        reason: Option<&'a [u8]>,
    },
    /// Any other packet type (APP, feedback, XR): skipped by us.
    Other {
        /// The packet type.
        packet_type: u8,
        /// The count/format field.
        count: u8,
        /// The body after the 4-byte header.
        body: &'a [u8],
    },
}

impl RtcpPacket<'_> {
    /// The SSRCs a BYE names (empty for other packets).
    pub fn bye_ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        let s: &[u8] = match self {
            Self::Bye { ssrcs, .. } => ssrcs,
            _ => &[],
        };
        s.chunks_exact(4).map(be32)
    }
}

/// Reads the packets of a compound RTCP packet one by one; an error ends the iteration.
pub fn parse_compound(data: &[u8]) -> impl Iterator<Item = Result<RtcpPacket<'_>, RtcpError>> {
    let mut rest = data;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || rest.is_empty() {
            return None;
        }
        match parse_one(rest) {
            Ok((packet, used)) => {
                rest = &rest[used..];
                Some(Ok(packet))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

fn parse_one(data: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let head = data.get(..4).ok_or(RtcpError::Truncated)?;
    let version = head[0] >> 6;
    if version != 2 {
        return Err(RtcpError::Version(version));
    }
    let padding = head[0] & 0x20 != 0;
    let count = head[0] & 0x1F;
    let packet_type = head[1];
    let len = (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1) * 4;
    let packet = data.get(..len).ok_or(RtcpError::Truncated)?;
    let mut body = &packet[4..];
    if padding {
        let pad = usize::from(*body.last().ok_or(RtcpError::Malformed)?);
        if pad == 0 || pad > body.len() {
            return Err(RtcpError::Malformed);
        }
        body = &body[..body.len() - pad];
    }
    let blocks_len = usize::from(count) * REPORT_BLOCK_LEN;
    let parsed = match packet_type {
        PT_SR => {
            let need = 4 + SENDER_INFO_LEN + blocks_len;
            if body.len() < need {
                return Err(RtcpError::Malformed);
            }
            let info = SenderInfo {
                ntp: (u64::from(be32(&body[4..8])) << 32) | u64::from(be32(&body[8..12])),
                rtp_timestamp: be32(&body[12..16]),
                packet_count: be32(&body[16..20]),
                octet_count: be32(&body[20..24]),
            };
            RtcpPacket::SenderReport {
                ssrc: be32(body),
                info,
                blocks: ReportBlocks(&body[24..need]),
            }
        }
        PT_RR => {
            let need = 4 + blocks_len;
            if body.len() < need {
                return Err(RtcpError::Malformed);
            }
            RtcpPacket::ReceiverReport {
                ssrc: be32(body),
                blocks: ReportBlocks(&body[4..need]),
            }
        }
        PT_SDES => RtcpPacket::Sdes(Sdes { count, body }),
        PT_BYE => {
            let n = usize::from(count) * 4;
            let ssrcs = body.get(..n).ok_or(RtcpError::Malformed)?;
            let reason = body
                .get(n)
                .and_then(|&l| body.get(n + 1..n + 1 + usize::from(l)));
            RtcpPacket::Bye { ssrcs, reason }
        }
        _ => RtcpPacket::Other {
            packet_type,
            count,
            body,
        },
    };
    Ok((parsed, len))
}

fn begin(out: &mut Vec<u8>, count: u8, packet_type: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1F), packet_type, 0, 0]);
    start
}

/// Pads the packet begun at `start` to 32 bits and fills in its length field.
fn finish(out: &mut Vec<u8>, start: usize) {
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
}

/// Appends a sender report with up to 31 report blocks (more are dropped).
pub fn write_sender_report(
    out: &mut Vec<u8>,
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
) {
    let blocks = &blocks[..blocks.len().min(31)];
    let start = begin(out, blocks.len() as u8, PT_SR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.to_be_bytes());
    out.extend_from_slice(&info.rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&info.packet_count.to_be_bytes());
    out.extend_from_slice(&info.octet_count.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    finish(out, start);
}

/// Appends a receiver report with up to 31 report blocks (more are dropped).
pub fn write_receiver_report(out: &mut Vec<u8>, ssrc: u32, blocks: &[ReportBlock]) {
    let blocks = &blocks[..blocks.len().min(31)];
    let start = begin(out, blocks.len() as u8, PT_RR);
    out.extend_from_slice(&ssrc.to_be_bytes());
    for b in blocks {
        b.write(out);
    }
    finish(out, start);
}

/// Appends an SDES packet with one chunk carrying a CNAME (truncated to 255 bytes).
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &[u8]) {
    let cname = &cname[..cname.len().min(255)];
    let start = begin(out, 1, PT_SDES);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(SDES_CNAME);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    // The item list ends with a zero byte; `finish` pads on to 32 bits.
    out.push(0);
    finish(out, start);
}

/// Appends a BYE for `ssrcs` (up to 31) with an optional reason (truncated to 255 bytes).
pub fn write_bye(out: &mut Vec<u8>, ssrcs: &[u32], reason: Option<&[u8]>) {
    let ssrcs = &ssrcs[..ssrcs.len().min(31)];
    let start = begin(out, ssrcs.len() as u8, PT_BYE);
    for s in ssrcs {
        out.extend_from_slice(&s.to_be_bytes());
    }
    if let Some(r) = reason {
        let r = &r[..r.len().min(255)];
        out.push(r.len() as u8);
        out.extend_from_slice(r);
    }
    finish(out, start);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_sequence: 0x0001_0005,
            jitter: 77,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn rfc3550_6_4_sender_report_round_trip() {
        let info = SenderInfo {
            ntp: 0xE000_0000_8000_0000,
            rtp_timestamp: 160,
            packet_count: 3,
            octet_count: 480,
        };
        let mut out = Vec::new();
        write_sender_report(&mut out, 0xAABB_CCDD, &info, &[block(9)]);
        assert_eq!(out.len(), 28 + 24);
        assert_eq!(&out[..4], &[0x81, 200, 0, 12]);
        let packets: Vec<_> = parse_compound(&out).collect();
        assert_eq!(packets.len(), 1);
        let RtcpPacket::SenderReport {
            ssrc,
            info: got,
            blocks,
        } = packets[0].unwrap()
        else {
            panic!("not an SR: {packets:?}");
        };
        assert_eq!(ssrc, 0xAABB_CCDD);
        assert_eq!(got, info);
        assert_eq!(blocks.iter().collect::<Vec<_>>(), [block(9)]);
    }

    #[test]
    fn rfc3550_6_1_compound_rr_sdes_bye() {
        let mut out = Vec::new();
        write_receiver_report(&mut out, 1, &[block(2), block(3)]);
        write_sdes_cname(&mut out, 1, b"hasip@example");
        write_bye(&mut out, &[1], Some(b"hangup"));
        assert_eq!(out.len() % 4, 0);
        let packets: Vec<_> = parse_compound(&out).map(Result::unwrap).collect();
        assert_eq!(packets.len(), 3);
        match packets[0] {
            RtcpPacket::ReceiverReport { ssrc, blocks } => {
                assert_eq!(ssrc, 1);
                assert_eq!(blocks.iter().map(|b| b.ssrc).collect::<Vec<_>>(), [2, 3]);
            }
            other => panic!("{other:?}"),
        }
        match packets[1] {
            RtcpPacket::Sdes(s) => {
                assert_eq!(s.cname(1), Some(&b"hasip@example"[..]));
                assert_eq!(s.cname(2), None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(packets[2].bye_ssrcs().collect::<Vec<_>>(), [1]);
        match packets[2] {
            RtcpPacket::Bye { reason, .. } => assert_eq!(reason, Some(&b"hangup"[..])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sdes_cname_lengths_pad_to_words() {
        for n in 0..12 {
            let name = vec![b'x'; n];
            let mut out = Vec::new();
            write_sdes_cname(&mut out, 5, &name);
            assert_eq!(out.len() % 4, 0);
            let RtcpPacket::Sdes(s) = parse_compound(&out).next().unwrap().unwrap() else {
                panic!()
            };
            assert_eq!(s.cname(5), Some(&name[..]));
        }
    }

    #[test]
    fn malformed_compound_packets_are_errors() {
        assert_eq!(
            parse_compound(&[0x80]).next(),
            Some(Err(RtcpError::Truncated))
        );
        assert_eq!(
            parse_compound(&[0x40, 200, 0, 0]).next(),
            Some(Err(RtcpError::Version(1)))
        );
        // RR announcing one block but holding none.
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1]).next(),
            Some(Err(RtcpError::Malformed))
        );
        // Length beyond the buffer.
        assert_eq!(
            parse_compound(&[0x80, 201, 0, 9, 0, 0, 0, 1]).next(),
            Some(Err(RtcpError::Truncated))
        );
        // Padding count zero.
        assert_eq!(
            parse_compound(&[0xA0, 201, 0, 1, 0, 0, 0, 0]).next(),
            Some(Err(RtcpError::Malformed))
        );
    }

    #[test]
    fn never_panics_on_any_short_input() {
        let mut out = Vec::new();
        write_sender_report(&mut out, 1, &SenderInfo::default(), &[block(2)]);
        write_sdes_cname(&mut out, 1, b"abc");
        write_bye(&mut out, &[1, 2], Some(b"x"));
        for first in 0..=255u8 {
            for pos in [0, 28 + 24, 28 + 24 + 12] {
                let mut b = out.clone();
                b[pos] = first;
                for len in 0..=b.len() {
                    for p in parse_compound(&b[..len]).flatten() {
                        if let RtcpPacket::Sdes(s) = p {
                            for (_, items) in s.chunks() {
                                let _ = items.iter().count();
                            }
                        }
                        let _ = p.bye_ssrcs().count();
                    }
                }
            }
        }
    }
}
