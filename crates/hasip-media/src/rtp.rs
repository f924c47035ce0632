//! RTP packets (RFC 3550 §5.1): a borrowed, bounds-checked view for reading and a header
//! type for writing. Parsing never panics: every length is checked before it is used.

use std::fmt;

/// The fixed header is 12 bytes (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;

/// Why bytes are not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the fixed header, or than the CSRC list or extension it announces.
    Truncated,
    /// The version field is not 2.
    Version(u8),
    /// The padding count is zero or larger than what follows the header.
    Padding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("RTP packet truncated"),
            Self::Version(v) => write!(f, "RTP version {v}, expected 2"),
            Self::Padding => f.write_str("RTP padding count out of range"),
        }
    }
}

impl std::error::Error for RtpError {}

/// A header extension (RFC 3550 §5.3.1): the profile-defined 16 bits and the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The "defined by profile" field (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// The extension data, a multiple of 4 bytes.
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit: the first packet of a talk-spurt, or of an RFC 4733 event.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp in the payload's clock.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    csrc: &'a [u8],
    /// The header extension, if the X bit is set.
    pub extension: Option<Extension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Reads an RTP packet.
    ///
    /// # Errors
    /// [`RtpError`] when the bytes are too short for what the header announces, the version
    /// is not 2 or the padding count does not fit.
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        let Some(fixed) = data.get(..HEADER_LEN) else {
            return Err(RtpError::Truncated);
        };
        let b0 = fixed[0];
        let b1 = fixed[1];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0F);
        let sequence = u16::from_be_bytes([fixed[2], fixed[3]]);
        let timestamp = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let ssrc = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);

        let mut pos = HEADER_LEN;
        let csrc_end = pos + 4 * csrc_count;
        let csrc = data.get(pos..csrc_end).ok_or(RtpError::Truncated)?;
        pos = csrc_end;

        let extension = if has_extension {
            let head = data.get(pos..pos + 4).ok_or(RtpError::Truncated)?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let start = pos + 4;
            let end = start + 4 * words;
            let ext = data.get(start..end).ok_or(RtpError::Truncated)?;
            pos = end;
            Some(Extension { profile, data: ext })
        } else {
            None
        };

        let mut end = data.len();
        if padding {
            let count = usize::from(data[end - 1]);
            if count == 0 || count > end - pos {
                return Err(RtpError::Padding);
            }
            end -= count;
        }
        Ok(Self {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence,
            timestamp,
            ssrc,
            csrc,
            extension,
            payload: &data[pos..end],
        })
    }

    /// The contributing sources (at most 15).
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// What RFC 5761 §4 uses to tell RTCP from RTP on one port: the second byte of an RTCP
/// packet is its packet type, 192–223, which as RTP would be a payload type of 64–95 with
/// the marker set; those payload types are never used for RTP.
pub fn looks_like_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && matches!(data[1], 192..=223)
}

/// The fields of an RTP header we write (no CSRC, no extension, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// The marker bit.
    pub marker: bool,
    /// Payload type (7 bits; higher bits are dropped).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// The 12 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = 0x80;
        h[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        h
    }

    /// Clears `out` and writes the header followed by `payload` into it (its capacity is
    /// reused, so a buffer that is written again and again stops allocating).
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3550_5_1_header_round_trip() {
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xBEEF,
            timestamp: 0x0102_0304,
            ssrc: 0xDEAD_BEEF,
        };
        let mut buf = Vec::new();
        h.write(&[1, 2, 3], &mut buf);
        assert_eq!(
            buf,
            [
                0x80, 0x88, 0xBE, 0xEF, 1, 2, 3, 4, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3
            ]
        );
        let p = RtpPacket::parse(&buf).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.sequence, 0xBEEF);
        assert_eq!(p.timestamp, 0x0102_0304);
        assert_eq!(p.ssrc, 0xDEAD_BEEF);
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(p.csrcs().count(), 0);
        assert!(p.extension.is_none());
    }

    #[test]
    fn rfc3550_5_1_csrc_extension_and_padding() {
        let mut b = vec![0xB2, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // two CSRCs
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]); // one-word extension
        b.extend_from_slice(&[7, 7, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), [10, 11]);
        let ext = p.extension.unwrap();
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(p.payload, &[7, 7, 7]);
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        // CSRC count 15 with no CSRCs present.
        let mut b = [0u8; 12];
        b[0] = 0x8F;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::Truncated));
        // Extension bit with a truncated extension.
        b[0] = 0x90;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::Truncated));
        // Padding bit, padding count 0 and larger than the packet.
        let mut p = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::Padding));
        *p.last_mut().unwrap() = 2;
        assert_eq!(RtpPacket::parse(&p), Err(RtpError::Padding));
        // Padding of a whole header-only packet: the count byte is the padding itself.
        *p.last_mut().unwrap() = 1;
        assert_eq!(RtpPacket::parse(&p).unwrap().payload, &[] as &[u8]);
    }

    #[test]
    fn never_panics_on_any_short_input() {
        // Every prefix of a packet with every flag combination in the first byte.
        let mut base = [0u8; 40];
        for (i, b) in base.iter_mut().enumerate() {
            *b = (i * 37) as u8;
        }
        for first in 0..=255u8 {
            base[0] = first;
            for last in [0u8, 1, 3, 40, 255] {
                let n = base.len();
                base[n - 1] = last;
                for len in 0..=base.len() {
                    let _ = RtpPacket::parse(&base[..len]).map(|p| p.csrcs().count());
                }
            }
        }
    }

    #[test]
    fn rfc5761_4_rtcp_demultiplexing() {
        assert!(looks_like_rtcp(&[0x80, 200, 0, 6, 0, 0, 0, 0]));
        assert!(looks_like_rtcp(&[0x81, 201, 0, 7, 0, 0, 0, 0]));
        assert!(!looks_like_rtcp(&[0x80, 0, 0, 6, 0, 0, 0, 0]));
        assert!(!looks_like_rtcp(&[0x80, 0x80 | 101, 0, 0, 0, 0, 0, 0]));
        assert!(!looks_like_rtcp(&[0x80, 200]));
    }
}
