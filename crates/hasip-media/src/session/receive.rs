//! The receiving side of a session: RTP and RTCP in, strict RTP (which source is the call's
//! media), report blocks.

use super::*;

impl MediaSession {
    /// Takes one datagram from the RTP socket (RTCP is recognised and handled too, for
    /// `rtcp-mux`). Anything malformed, from a foreign source or of an unknown payload
    /// type is counted and dropped.
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let now = self.clamp(now);
        if self.closed {
            return;
        }
        if rtp::looks_like_rtcp(data) {
            self.handle_rtcp(now, from, data);
            return;
        }
        let Ok(p) = RtpPacket::parse(data) else {
            self.stats.malformed += 1;
            return;
        };
        let te_pt = self.config.telephone_event.map(|t| t.payload_type);
        let is_audio = p.payload_type == self.config.payload_type;
        let is_event = Some(p.payload_type) == te_pt;
        if !is_audio && !is_event && p.payload_type != PT_CN {
            self.stats.unknown_payload_type += 1;
            return;
        }
        if !self.accept_source(now, from, p.ssrc, p.sequence) {
            self.stats.foreign_source += 1;
            return;
        }
        if self.remote_ssrc != Some(p.ssrc) {
            self.remote_ssrc = Some(p.ssrc);
            self.rx_stats = ReceiveStats::default();
            self.playout.reset();
        }
        let arrival = self.units_since_start(now, self.config.codec.clock_rate());
        if self.rx_stats.record(p.sequence, p.timestamp, arrival) == SeqStatus::Duplicate {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.packets_received += 1;
        self.last_rx = Some(now);
        self.no_media_reported = false;
        if !self.config.direction.receives() {
            return;
        }
        if is_event {
            self.dtmf_rx
                .event_packet(now, p.timestamp, p.payload, &mut self.events);
        } else if is_audio {
            let n = match self.codec.decode(p.payload, &mut self.rx_pcm) {
                Ok(n) => n,
                Err(_) => {
                    self.stats.decode_errors += 1;
                    return;
                }
            };
            let pcm = &self.rx_pcm[..n];
            self.dtmf_rx.audio(now, pcm, &mut self.events);
            if self.arrival_tap {
                self.arrival.clear();
                self.arrival.extend_from_slice(pcm);
                self.arrival_fresh = true;
            }
            if self.tap {
                self.playout.push(p.timestamp, pcm);
            }
        }
    }

    /// Takes one datagram from the RTCP socket.
    pub fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let now = self.clamp(now);
        if !self.host_allowed(from.ip()) {
            // Reports from a third host would skew the statistics or redirect ours.
            self.stats.foreign_source += 1;
            return;
        }
        let mut any = false;
        for packet in rtcp::parse_compound(data) {
            let Ok(packet) = packet else {
                self.stats.malformed += 1;
                break;
            };
            any = true;
            match packet {
                RtcpPacket::SenderReport { ssrc, info, blocks } => {
                    if self.remote_ssrc.is_none_or(|s| s == ssrc) {
                        self.last_sr = Some(((info.ntp >> 16) as u32, now));
                    }
                    for b in blocks.iter() {
                        self.read_report_block(now, &b);
                    }
                }
                RtcpPacket::ReceiverReport { blocks, .. } => {
                    for b in blocks.iter() {
                        self.read_report_block(now, &b);
                    }
                }
                RtcpPacket::Sdes(_) | RtcpPacket::Bye { .. } | RtcpPacket::Other { .. } => {}
            }
        }
        // Symmetric RTCP: answer where reports come from, but only from the host we
        // exchange RTP with, so that a stranger cannot redirect our reports.
        let same_host = self.remote_rtp.is_none_or(|r| r.ip() == from.ip());
        if any && same_host && self.config.symmetric_rtp && self.config.remote_rtcp.is_none() {
            self.remote_rtcp = Some(from);
        }
    }

    pub(super) fn read_report_block(&mut self, now: Instant, b: &rtcp::ReportBlock) {
        if b.ssrc != self.ssrc || b.last_sr == 0 {
            return;
        }
        // RFC 3550 §6.4.1: RTT = arrival − LSR − DLSR, in 1/65536 s.
        let arrival = (self.ntp(now) >> 16) as u32;
        let rtt = arrival
            .wrapping_sub(b.last_sr)
            .wrapping_sub(b.delay_since_last_sr);
        if rtt < 0x8000_0000 {
            self.stats.round_trip = Some(Duration::from_micros((u64::from(rtt) * 1_000_000) >> 16));
        }
    }

    /// True for a host media may come from: the SDP's, or the one the call's SIP came from.
    pub(super) fn host_allowed(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let sdp = self.config.remote.map(|r| r.ip().to_canonical());
        sdp == Some(ip)
            || (sdp.is_some_and(|r| r.is_loopback())
                && self.config.local_ip.is_some_and(|l| l.to_canonical() == ip))
            || self
                .config
                .signalling_ip
                .is_some_and(|s| s.to_canonical() == ip)
            || self.latched.is_some_and(|l| l.ip() == ip)
    }

    /// Strict RTP: whether a packet from `from` is the call's media. Only the SDP's address,
    /// or another port of an allowed host that sent [`RELATCH_PACKETS`] packets of one SSRC
    /// with consecutive sequence numbers within [`LEARNING`] (a NAT's mapping), is taken;
    /// never a third host, never a new port later in the call (a re-INVITE starts over).
    pub(super) fn accept_source(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
    ) -> bool {
        if self.latched == Some(from) {
            self.candidate = None;
            return true;
        }
        if !self.host_allowed(from.ip()) {
            return false;
        }
        if !self.config.symmetric_rtp {
            return true;
        }
        if self.latched.is_none() && self.config.remote == Some(from) {
            self.latch(from);
            return true;
        }
        if now > self.learn_until {
            return false;
        }
        let count = match &mut self.candidate {
            Some(c) if c.addr == from && c.ssrc == ssrc && seq == c.seq.wrapping_add(1) => {
                c.seq = seq;
                c.count += 1;
                c.count
            }
            _ => {
                self.candidate = Some(Candidate {
                    addr: from,
                    ssrc,
                    seq,
                    count: 1,
                });
                1
            }
        };
        if count >= RELATCH_PACKETS {
            self.candidate = None;
            self.latch(from);
            true
        } else {
            false
        }
    }

    pub(super) fn latch(&mut self, from: SocketAddr) {
        self.latched = Some(from);
        if self.remote_rtp != Some(from) {
            self.remote_rtp = Some(from);
            if self.config.remote_rtcp.is_none() {
                self.remote_rtcp = Some(rtcp_for(from, self.config.rtcp_mux));
            }
            self.events.push_back(Event::RemoteLatched { addr: from });
        }
    }
}
