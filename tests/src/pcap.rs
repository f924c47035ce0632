//! Writing RTP streams as pcap files for sipp's `play_pcap_audio` (Ethernet, IPv4, UDP;
//! sipp takes the UDP payloads and their timing, and sends them to the call's media
//! address).

use std::path::Path;
use std::time::Duration;

/// One RTP packet of a stream: when it is sent (from the stream's start) and its bytes.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Offset from the first packet.
    pub at: Duration,
    /// The RTP packet (header and payload).
    pub rtp: Vec<u8>,
}

/// An RTP packet: version 2, no CSRC, SSRC 0x5ee5_0001.
pub fn rtp(payload_type: u8, marker: bool, seq: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | (payload_type & 0x7f)];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&0x5ee5_0001u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The packets of RFC 4733 key presses at an 8 kHz clock, one every 20 ms as phones send
/// them: each press `(digit code, start, length)` starts with the marker bit, grows its
/// duration every packet and ends with three end packets. Sequence numbers run on across
/// presses.
pub fn rfc4733_presses(payload_type: u8, presses: &[(u8, Duration, Duration)]) -> Vec<Packet> {
    let mut out = Vec::new();
    let mut seq: u16 = 4000;
    for &(code, start, length) in presses {
        let timestamp = 16_000 + u32::try_from(start.as_millis() * 8).unwrap_or(u32::MAX);
        let total = u16::try_from(length.as_millis() * 8).unwrap_or(u16::MAX);
        let packets = u16::try_from(length.as_millis() / 20)
            .unwrap_or(u16::MAX)
            .max(1);
        for k in 1..=packets {
            let end = k == packets;
            let duration = if end { total } else { 160 * k };
            let copies = if end { 3 } else { 1 };
            for _ in 0..copies {
                seq = seq.wrapping_add(1);
                let payload = [
                    code,
                    (u8::from(end) << 7) | 10,
                    (duration >> 8) as u8,
                    duration as u8,
                ];
                out.push(Packet {
                    at: start + Duration::from_millis(20 * u64::from(k - 1)),
                    rtp: rtp(payload_type, k == 1, seq, timestamp, &payload),
                });
            }
        }
    }
    out
}

/// Writes `packets` as a pcap of UDP datagrams from 10.0.0.1:40000 to 10.0.0.2:40000.
///
/// # Panics
/// When the file cannot be written.
pub fn write(path: &Path, packets: &[Packet]) {
    let mut f = Vec::new();
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65_535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    let base = 1_700_000_000u64;
    for p in packets {
        let udp_len = 8 + p.rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&u16::try_from(ip_len).unwrap_or(u16::MAX).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let sum = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&40_000u16.to_be_bytes());
        frame.extend_from_slice(&40_000u16.to_be_bytes());
        frame.extend_from_slice(&u16::try_from(udp_len).unwrap_or(u16::MAX).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&p.rtp);
        let secs = base + p.at.as_secs();
        f.extend_from_slice(&u32::try_from(secs).unwrap_or(u32::MAX).to_le_bytes());
        f.extend_from_slice(&p.at.subsec_micros().to_le_bytes());
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&frame);
    }
    std::fs::write(path, f).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
