//! The sending side of a session: one frame per tick (playback, DTMF, bridge audio, idle),
//! RTP packets from a reused buffer pool, the tap's frames, RTCP reports.

use super::*;

impl MediaSession {
    /// Copies the playback queue into the frame; returns whether anything played.
    pub(super) fn fill_playback(&mut self) -> bool {
        if self.playback.is_empty() {
            return false;
        }
        let mut pos = 0;
        while pos < self.frame.len() {
            let Some(item) = self.playback.front_mut() else {
                break;
            };
            let left = item.samples.len().saturating_sub(item.pos);
            let n = left.min(self.frame.len() - pos);
            if let (Some(dst), Some(src)) = (
                self.frame.get_mut(pos..pos + n),
                item.samples.get(item.pos..item.pos + n),
            ) {
                dst.copy_from_slice(src);
            }
            item.pos += n;
            pos += n;
            if item.pos >= item.samples.len() {
                let id = item.id;
                self.playback.pop_front();
                self.events.push_back(Event::PlaybackFinished {
                    id,
                    end: PlaybackEnd::Completed,
                });
            }
        }
        true
    }

    pub(super) fn take_buffer(&mut self) -> Vec<u8> {
        let capacity = self.buffer_capacity;
        let mut buf = self
            .tx_pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity));
        buf.clear();
        buf
    }

    pub(super) fn enqueue(&mut self, to: SocketAddr, kind: PacketKind, buf: Vec<u8>) {
        if self.tx_queue.len() >= MAX_QUEUED_PACKETS
            && let Some(old) = self.tx_queue.pop_front()
        {
            self.tx_pool.push(old.buf);
        }
        self.tx_queue.push_back(Queued { to, kind, buf });
    }

    pub(super) fn send_rtp(
        &mut self,
        to: SocketAddr,
        header: RtpHeader,
        payload_len: usize,
        now: Instant,
    ) {
        let mut buf = self.take_buffer();
        let payload = self.payload.get(..payload_len).unwrap_or(&[]);
        header.write(payload, &mut buf);
        self.stats.packets_sent += 1;
        self.stats.octets_sent += payload.len() as u64;
        self.sent_since_report = true;
        self.last_sent = Some(now);
        self.enqueue(to, PacketKind::Rtp, buf);
    }

    pub(super) fn next_seq(&mut self) -> u16 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    pub(super) fn produce_frame(&mut self, now: Instant) {
        self.frame.fill(0);
        let mut active = self.fill_playback();
        if !self.bridge_in.is_empty() {
            let n = self.bridge_in.len().min(self.frame.len());
            for (d, s) in self.frame.iter_mut().zip(self.bridge_in.drain(..n)) {
                *d = d.saturating_add(s);
            }
            active = true;
        }
        let event = match &mut self.event_tx {
            Some(tx) => tx.tick(self.ts),
            None => Default::default(),
        };
        if !self.inband_tx.is_idle() {
            active = true;
            // While RFC 4733 packets replace the audio, in-band tones wait: mixed into a
            // frame that is not sent, a tone would lose its start.
            if event.packet.is_none()
                && let Some(digit) = self.inband_tx.mix_into(&mut self.frame)
            {
                self.events.push_back(Event::DtmfSent {
                    digit,
                    method: DtmfMethod::InBand,
                });
            }
        }
        if let Some(digit) = event.finished {
            self.events.push_back(Event::DtmfSent {
                digit,
                method: DtmfMethod::Rfc4733,
            });
        }
        if self.tap {
            self.push_tap_frame();
        }

        let to = self.remote_rtp.filter(|_| self.config.direction.sends());
        match (to, event.packet) {
            (None, _) => self.marker_next = true,
            (Some(to), Some(p)) => {
                let pt = self
                    .config
                    .telephone_event
                    .map_or(self.config.payload_type, |t| t.payload_type);
                let header = RtpHeader {
                    marker: p.marker,
                    payload_type: pt,
                    sequence: self.next_seq(),
                    timestamp: p.timestamp,
                    ssrc: self.ssrc,
                };
                let bytes = p.payload.to_bytes();
                self.payload[..4].copy_from_slice(&bytes);
                self.send_rtp(to, header, 4, now);
            }
            (Some(to), None) => {
                let send = match self.config.idle {
                    Idle::Silence => true,
                    Idle::Keepalive(every) => {
                        active
                            || self
                                .last_sent
                                .is_none_or(|t| now.saturating_duration_since(t) >= every)
                    }
                };
                if send {
                    match self.codec.encode(&self.frame, &mut self.payload) {
                        Ok(len) => {
                            let header = RtpHeader {
                                marker: self.marker_next,
                                payload_type: self.config.payload_type,
                                sequence: self.next_seq(),
                                timestamp: self.ts,
                                ssrc: self.ssrc,
                            };
                            self.marker_next = false;
                            self.send_rtp(to, header, len, now);
                        }
                        Err(_) => self.marker_next = true,
                    }
                } else {
                    self.marker_next = true;
                }
            }
        }
        self.ts = self.ts.wrapping_add(self.frame_units);
        self.frames_done += 1;
    }

    pub(super) fn push_tap_frame(&mut self) {
        let (mut received, mut sent) = self.tap_pool.pop().unwrap_or_default();
        received.resize(self.frame_samples, 0);
        self.playout.pop_frame(&mut received);
        sent.clear();
        sent.extend_from_slice(&self.frame);
        if self.tap_queue.len() >= MAX_QUEUED_FRAMES
            && let Some(old) = self.tap_queue.pop_front()
        {
            self.tap_pool.push(old);
        }
        self.tap_queue.push_back((received, sent));
    }

    pub(super) fn send_rtcp(&mut self, now: Instant, bye: bool) {
        let Some(to) = self.remote_rtcp else {
            return;
        };
        let mut buf = self.take_buffer();
        let (lsr, dlsr) = match self.last_sr {
            Some((mid, at)) => {
                let d = now.saturating_duration_since(at);
                let units = (d.as_micros() << 16) / 1_000_000;
                (mid, units.min(u128::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        let block = self
            .remote_ssrc
            .map(|s| self.rx_stats.report_block(s, lsr, dlsr));
        let blocks = block.as_slice();
        if self.sent_since_report {
            let clock = u128::from(self.config.codec.clock_rate());
            let since = self
                .anchor
                .map_or(Duration::ZERO, |a| now.saturating_duration_since(a));
            let rtp_now = self
                .ts_initial
                .wrapping_add((since.as_nanos() * clock / 1_000_000_000) as u32);
            let info = SenderInfo {
                ntp: self.ntp(now),
                rtp_timestamp: rtp_now,
                packet_count: self.stats.packets_sent as u32,
                octet_count: self.stats.octets_sent as u32,
            };
            rtcp::write_sender_report(&mut buf, self.ssrc, &info, blocks);
        } else {
            rtcp::write_receiver_report(&mut buf, self.ssrc, blocks);
        }
        self.sent_since_report = false;
        rtcp::write_sdes_cname(&mut buf, self.ssrc, self.config.cname.as_bytes());
        if bye {
            rtcp::write_bye(&mut buf, &[self.ssrc], None);
        }
        let kind = if self.config.rtcp_mux {
            PacketKind::Rtp
        } else {
            PacketKind::Rtcp
        };
        self.enqueue(to, kind, buf);
    }
}
