//! RFC 4733 telephone-events for DTMF: the 4-byte payload, a receiver that turns a stream of
//! event packets into one digit per event, and a sender that turns digits into packets.
//!
//! Durations are in units of the telephone-event clock (8000 or 48000 Hz), as on the wire.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::dtmf::{Digit, DtmfTiming};

/// The event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (0–15 for DTMF).
    pub event: u8,
    /// The E bit: the last packet(s) of the event.
    pub end: bool,
    /// Power level as −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in clock units since the event's timestamp.
    pub duration: u16,
}

impl EventPayload {
    /// Reads the first event of a payload (RFC 2198 redundancy is not used by DTMF senders
    /// in practice and is not read).
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b = payload.get(..4)?;
        Some(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4 payload bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// How a received event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventEnd {
    /// A packet with the E bit.
    EndPacket,
    /// No packet for the configured time: the end packets were lost (RFC 4733 §2.5.2.2).
    Timeout,
    /// A packet of a new event arrived first.
    NextEvent,
}

/// What the receiver reports: each event twice, once when its first packet arrives and
/// once when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// The first packet of a new event arrived (whichever packet of it came first: an
    /// event whose first packets were lost starts on the first one that does arrive). This
    /// is when a key press is reported: a user holding the key for half a second must not
    /// wait for its end.
    Started(Digit),
    /// The event ended; no packet of it is reported again.
    Ended(ReceivedEvent),
}

/// One digit received as an RFC 4733 event, as it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// The digit.
    pub digit: Digit,
    /// How long it lasted, in clock units (the longest duration seen, summed over the
    /// segments of a long event).
    pub duration: u32,
    /// The clock rate of `duration`.
    pub clock_rate: u32,
    /// How the end was found.
    pub ended_by: EventEnd,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    digit: Digit,
    timestamp: u32,
    /// Duration of earlier segments of a long event (RFC 4733 §2.5.1.3).
    earlier: u32,
    duration: u16,
    last_seen: Instant,
}

/// How many ended events are remembered to drop their retransmitted end packets.
const RECENT: usize = 8;

/// Turns telephone-event packets into one [`ReceiverEvent::Started`] and one
/// [`ReceiverEvent::Ended`] per event.
///
/// An event is identified by its RTP timestamp (RFC 4733 §2.5.2.1): a new timestamp is a
/// new event, also for the same digit pressed again. Retransmitted end packets (the sender
/// repeats the last one, §2.5.1.4) and late packets of an ended event are dropped; an event
/// seen only as end packets starts and ends on the first of them; an event whose end
/// packets are all lost ends `timeout` after its last packet; a long event split into
/// segments (§2.5.1.3) stays one digit. Event codes other than the 16 DTMF digits are
/// ignored.
#[derive(Debug, Clone)]
pub struct EventReceiver {
    clock_rate: u32,
    timeout: Duration,
    current: Option<Current>,
    recent: [Option<u32>; RECENT],
    next_recent: usize,
    out: VecDeque<ReceiverEvent>,
}

impl EventReceiver {
    /// A receiver for a telephone-event clock of `clock_rate` Hz that ends an event whose
    /// end packets were lost `timeout` after its last packet.
    pub fn new(clock_rate: u32, timeout: Duration) -> Self {
        Self {
            clock_rate,
            timeout,
            current: None,
            recent: [None; RECENT],
            next_recent: 0,
            out: VecDeque::new(),
        }
    }

    /// Takes one telephone-event packet: its RTP timestamp and payload.
    pub fn handle_packet(&mut self, now: Instant, timestamp: u32, payload: &[u8]) {
        self.handle_timeout(now);
        let Some(ev) = EventPayload::parse(payload) else {
            return;
        };
        let Some(digit) = Digit::from_event_code(ev.event) else {
            return;
        };
        if self.recent.contains(&Some(timestamp)) {
            return; // A retransmitted end packet or a late packet of an ended event.
        }
        if let Some(cur) = self.current {
            if cur.timestamp == timestamp {
                self.current = Some(Current {
                    duration: cur.duration.max(ev.duration),
                    last_seen: now,
                    ..cur
                });
                if ev.end {
                    self.finish(EventEnd::EndPacket);
                }
                return;
            }
            // A packet from before the current event (reordered): too late to matter.
            if (timestamp.wrapping_sub(cur.timestamp) as i32) < 0 {
                return;
            }
            // The next segment of a long event starts where the previous one ended.
            let seg_end = cur.timestamp.wrapping_add(u32::from(cur.duration));
            let slack = timestamp.wrapping_sub(seg_end) as i32;
            if digit == cur.digit && cur.duration >= 0xF000 && slack.unsigned_abs() <= 0x1000 {
                self.remember(cur.timestamp);
                self.current = Some(Current {
                    digit,
                    timestamp,
                    earlier: cur.earlier + u32::from(cur.duration),
                    duration: ev.duration,
                    last_seen: now,
                });
                if ev.end {
                    self.finish(EventEnd::EndPacket);
                }
                return;
            }
            self.finish(EventEnd::NextEvent);
        }
        self.current = Some(Current {
            digit,
            timestamp,
            earlier: 0,
            duration: ev.duration,
            last_seen: now,
        });
        self.out.push_back(ReceiverEvent::Started(digit));
        if ev.end {
            self.finish(EventEnd::EndPacket);
        }
    }

    /// Ends the current event if its packets stopped `timeout` ago.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(at) = self.poll_timeout()
            && now >= at
        {
            self.finish(EventEnd::Timeout);
        }
    }

    /// When the current event will time out, if one is in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.map(|c| c.last_seen + self.timeout)
    }

    /// The next start or end, in the order they happened.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.out.pop_front()
    }

    /// The next event that has ended, passing over start notices (for callers that only
    /// count digits and their durations).
    pub fn poll_digit(&mut self) -> Option<ReceivedEvent> {
        while let Some(ev) = self.out.pop_front() {
            if let ReceiverEvent::Ended(e) = ev {
                return Some(e);
            }
        }
        None
    }

    fn remember(&mut self, timestamp: u32) {
        self.recent[self.next_recent] = Some(timestamp);
        self.next_recent = (self.next_recent + 1) % RECENT;
    }

    fn finish(&mut self, ended_by: EventEnd) {
        if let Some(cur) = self.current.take() {
            self.remember(cur.timestamp);
            self.out.push_back(ReceiverEvent::Ended(ReceivedEvent {
                digit: cur.digit,
                duration: cur.earlier + u32::from(cur.duration),
                clock_rate: self.clock_rate,
                ended_by,
            }));
        }
    }
}

/// One packet the sender wants sent in this packet interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// Set on the first packet of an event (RFC 4733 §2.5.1.1).
    pub marker: bool,
    /// The event's RTP timestamp: the stream timestamp at which the event began.
    pub timestamp: u32,
    /// The payload.
    pub payload: EventPayload,
}

/// What the sender does in one packet interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventTick {
    /// A packet to send instead of audio.
    pub packet: Option<EventPacket>,
    /// A digit whose tone (including its end packets) is over.
    pub finished: Option<Digit>,
}

#[derive(Debug, Clone, Copy)]
enum SendState {
    Idle,
    Tone {
        digit: Digit,
        timestamp: u32,
        elapsed: u32,
        total: u32,
        pause: i64,
    },
    End {
        digit: Digit,
        timestamp: u32,
        total: u32,
        sent: u8,
        pause_left: i64,
    },
    Pause {
        left: i64,
    },
}

/// The volume we put in event packets: −10 dBm0, a normal DTMF level.
const SEND_VOLUME: u8 = 10;
/// The longest duration one packet can state; longer tones are capped (RFC 4733 §2.5.1.3
/// segmentation is not needed for keypresses).
const MAX_DURATION: u32 = 0xFFFF;
/// Each event ends with this many packets carrying the E bit (RFC 4733 §2.5.1.4).
const END_PACKETS: u8 = 3;

/// `d` in units of a `rate` Hz clock.
fn units(rate: u32, d: Duration) -> u32 {
    (d.as_micros() * u128::from(rate) / 1_000_000).min(u128::from(u32::MAX)) as u32
}

/// Turns queued digits into telephone-event packets, one per packet interval.
///
/// Each digit's first packet has the marker bit; every later packet repeats the event's
/// timestamp with a growing duration; the last duration is the tone length exactly, sent
/// with the E bit three times in successive intervals (RFC 4733 §2.5.1.4). The pause is
/// counted from the end of the tone (the two repeated end packets fall inside it), then the
/// next digit starts.
#[derive(Debug, Clone)]
pub struct EventSender {
    clock_rate: u32,
    interval: u32,
    queue: VecDeque<(Digit, DtmfTiming)>,
    state: SendState,
}

impl EventSender {
    /// A sender for a telephone-event clock of `clock_rate` Hz and a packet interval of
    /// `ptime`.
    pub fn new(clock_rate: u32, ptime: Duration) -> Self {
        Self {
            clock_rate,
            interval: units(clock_rate, ptime).max(1),
            queue: VecDeque::new(),
            state: SendState::Idle,
        }
    }

    /// Queues digits with their timing.
    pub fn push(&mut self, digits: &[Digit], timing: DtmfTiming) {
        self.queue.extend(digits.iter().map(|&d| (d, timing)));
    }

    /// Whether nothing is queued or in progress.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, SendState::Idle) && self.queue.is_empty()
    }

    /// Drops queued digits (the one in progress still ends properly).
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Advances one packet interval whose audio would carry `stream_timestamp`.
    pub fn tick(&mut self, stream_timestamp: u32) -> EventTick {
        if let SendState::Pause { left } = self.state {
            if left > 0 {
                self.state = SendState::Pause {
                    left: left - i64::from(self.interval),
                };
                return EventTick::default();
            }
            self.state = SendState::Idle;
        }
        let mut first = false;
        if let SendState::Idle = self.state {
            let Some((digit, timing)) = self.queue.pop_front() else {
                return EventTick::default();
            };
            first = true;
            self.state = SendState::Tone {
                digit,
                timestamp: stream_timestamp,
                elapsed: 0,
                total: units(self.clock_rate, timing.tone).clamp(1, MAX_DURATION),
                pause: i64::from(units(self.clock_rate, timing.pause)),
            };
        }
        let mut tick = EventTick::default();
        match self.state {
            SendState::Tone {
                digit,
                timestamp,
                elapsed,
                total,
                pause,
            } => {
                let elapsed = elapsed + self.interval;
                let end = elapsed >= total;
                tick.packet = Some(EventPacket {
                    marker: first,
                    timestamp,
                    payload: EventPayload {
                        event: digit.event_code(),
                        end,
                        volume: SEND_VOLUME,
                        duration: elapsed.min(total) as u16,
                    },
                });
                self.state = if end {
                    SendState::End {
                        digit,
                        timestamp,
                        total,
                        sent: 1,
                        pause_left: pause,
                    }
                } else {
                    SendState::Tone {
                        digit,
                        timestamp,
                        elapsed,
                        total,
                        pause,
                    }
                };
            }
            SendState::End {
                digit,
                timestamp,
                total,
                sent,
                pause_left,
            } => {
                tick.packet = Some(EventPacket {
                    marker: false,
                    timestamp,
                    payload: EventPayload {
                        event: digit.event_code(),
                        end: true,
                        volume: SEND_VOLUME,
                        duration: total as u16,
                    },
                });
                let pause_left = pause_left - i64::from(self.interval);
                self.state = if sent + 1 >= END_PACKETS {
                    tick.finished = Some(digit);
                    SendState::Pause { left: pause_left }
                } else {
                    SendState::End {
                        digit,
                        timestamp,
                        total,
                        sent: sent + 1,
                        pause_left,
                    }
                };
            }
            SendState::Idle | SendState::Pause { .. } => {}
        }
        tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn start() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn digit(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn rfc4733_2_3_payload_format() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 1440,
        };
        assert_eq!(p.to_bytes(), [11, 0x8A, 0x05, 0xA0]);
        assert_eq!(EventPayload::parse(&p.to_bytes()), Some(p));
        // The reserved bit is ignored.
        assert_eq!(EventPayload::parse(&[1, 0x4A, 0, 0]).unwrap().volume, 10);
        assert_eq!(EventPayload::parse(&[1, 2, 3]), None);
    }

    /// Feeds a typical sender's packets: one every 20 ms, then three end packets.
    fn feed(rx: &mut EventReceiver, t0: Instant, ts: u32, event: u8, rate: u32, lose_end: bool) {
        let step = rate / 50;
        for k in 1..=8u32 {
            let at = t0 + ms(20 * u64::from(k));
            rx.handle_packet(at, ts, &payload(event, false, (k * step) as u16));
        }
        if !lose_end {
            for k in 0..3 {
                let at = t0 + ms(180 + 20 * k);
                rx.handle_packet(at, ts, &payload(event, true, (9 * step) as u16));
            }
        }
    }

    #[test]
    fn rfc4733_2_5_2_one_digit_per_event_and_duplicate_ends_dropped() {
        for rate in [8000, 48_000] {
            let t0 = start();
            let mut rx = EventReceiver::new(rate, ms(250));
            feed(&mut rx, t0, 1000, 5, rate, false);
            let ev = rx.poll_digit().unwrap();
            assert_eq!(ev.digit, digit('5'));
            assert_eq!(ev.duration, 9 * rate / 50, "180 ms at {rate} Hz");
            assert_eq!(ev.clock_rate, rate);
            assert_eq!(ev.ended_by, EventEnd::EndPacket);
            assert_eq!(
                rx.poll_digit(),
                None,
                "the repeated end packets are dropped"
            );
            // A late retransmission long after the end is still recognised.
            rx.handle_packet(
                t0 + ms(2000),
                1000,
                &payload(5, true, (9 * rate / 50) as u16),
            );
            assert_eq!(rx.poll_digit(), None);
            assert_eq!(rx.poll_timeout(), None);
        }
    }

    #[test]
    fn rfc4733_2_5_2_2_lost_end_packets_end_the_event_on_timeout() {
        let t0 = start();
        let mut rx = EventReceiver::new(8000, ms(250));
        feed(&mut rx, t0, 1000, 11, 8000, true);
        assert_eq!(rx.poll_digit(), None);
        let deadline = rx.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + ms(160 + 250));
        rx.handle_timeout(deadline - ms(1));
        assert_eq!(rx.poll_digit(), None);
        rx.handle_timeout(deadline);
        let ev = rx.poll_digit().unwrap();
        assert_eq!(
            (ev.digit, ev.duration, ev.ended_by),
            (digit('#'), 1280, EventEnd::Timeout)
        );
        // A stray end packet of that event arriving later does not make a second digit.
        rx.handle_packet(deadline + ms(5), 1000, &payload(11, true, 1440));
        assert_eq!(rx.poll_digit(), None);
    }

    #[test]
    fn a_new_timestamp_ends_the_previous_event() {
        let t0 = start();
        let mut rx = EventReceiver::new(8000, ms(250));
        rx.handle_packet(t0, 1000, &payload(1, false, 160));
        rx.handle_packet(t0 + ms(20), 1000, &payload(1, false, 320));
        rx.handle_packet(t0 + ms(100), 2000, &payload(2, false, 160));
        let ev = rx.poll_digit().unwrap();
        assert_eq!(
            (ev.digit, ev.duration, ev.ended_by),
            (digit('1'), 320, EventEnd::NextEvent)
        );
        // Same digit twice in a row, each its own event.
        rx.handle_packet(t0 + ms(120), 2000, &payload(2, true, 320));
        rx.handle_packet(t0 + ms(300), 4000, &payload(2, true, 320));
        assert_eq!(rx.poll_digit().unwrap().digit, digit('2'));
        assert_eq!(rx.poll_digit().unwrap().digit, digit('2'));
        assert_eq!(rx.poll_digit(), None);
        // A reordered packet of an older event is ignored.
        rx.handle_packet(t0 + ms(310), 5000, &payload(3, false, 160));
        rx.handle_packet(t0 + ms(311), 4500, &payload(9, false, 160));
        rx.handle_packet(t0 + ms(320), 5000, &payload(3, true, 320));
        assert_eq!(rx.poll_digit().unwrap().digit, digit('3'));
        assert_eq!(rx.poll_digit(), None);
    }

    #[test]
    fn rfc4733_2_5_1_3_long_events_stay_one_digit() {
        let t0 = start();
        let mut rx = EventReceiver::new(8000, ms(250));
        rx.handle_packet(t0, 0, &payload(0, false, 0xFFFF));
        rx.handle_packet(t0 + ms(20), 0xFFFF, &payload(0, false, 800));
        rx.handle_packet(t0 + ms(40), 0xFFFF, &payload(0, true, 1600));
        let ev = rx.poll_digit().unwrap();
        assert_eq!(ev.duration, 0xFFFF + 1600);
        assert_eq!(rx.poll_digit(), None);
    }

    #[test]
    fn non_dtmf_events_and_short_payloads_are_ignored() {
        let t0 = start();
        let mut rx = EventReceiver::new(8000, ms(250));
        rx.handle_packet(t0, 1, &payload(16, true, 160)); // flash
        rx.handle_packet(t0, 2, &[1, 2]);
        assert_eq!(rx.poll_digit(), None);
        assert_eq!(rx.poll_timeout(), None);
    }

    fn all(rx: &mut EventReceiver) -> Vec<ReceiverEvent> {
        std::iter::from_fn(|| rx.poll_event()).collect()
    }

    fn starts(events: &[ReceiverEvent]) -> Vec<char> {
        events
            .iter()
            .filter_map(|e| match e {
                ReceiverEvent::Started(d) => Some(d.as_char()),
                ReceiverEvent::Ended(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_digit_is_reported_on_its_first_packet_and_ends_once() {
        let t0 = start();
        let mut rx = EventReceiver::new(8000, ms(250));
        rx.handle_packet(t0, 1000, &payload(7, false, 160));
        assert_eq!(all(&mut rx), [ReceiverEvent::Started(digit('7'))]);
        // The rest of the press: updates, then three end packets; only its end follows.
        for k in 2..=7u16 {
            rx.handle_packet(
                t0 + ms(20 * u64::from(k)),
                1000,
                &payload(7, false, 160 * k),
            );
        }
        assert_eq!(all(&mut rx), []);
        for k in 0..3 {
            rx.handle_packet(t0 + ms(160 + 20 * k), 1000, &payload(7, true, 1120));
        }
        let ev = all(&mut rx);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(
            matches!(ev[0], ReceiverEvent::Ended(e) if e.duration == 1120 && e.digit == digit('7'))
        );
        // Late copies of any of its packets start nothing.
        rx.handle_packet(t0 + ms(400), 1000, &payload(7, false, 320));
        rx.handle_packet(t0 + ms(401), 1000, &payload(7, true, 1120));
        assert_eq!(all(&mut rx), []);
    }

    #[test]
    fn lost_first_packets_end_only_events_and_repeats_each_start_once() {
        let t0 = start();
        let mut rx = EventReceiver::new(8000, ms(250));
        // The first three packets were lost: the fourth starts the digit.
        rx.handle_packet(t0 + ms(60), 1000, &payload(1, false, 640));
        rx.handle_packet(t0 + ms(80), 1000, &payload(1, true, 800));
        assert_eq!(starts(&all(&mut rx)), ['1']);
        // Only end packets of the next event arrived: one start, one end.
        for k in 0..3 {
            rx.handle_packet(t0 + ms(300 + k), 3000, &payload(1, true, 800));
        }
        let ev = all(&mut rx);
        assert_eq!(
            starts(&ev),
            ['1'],
            "the same digit again, a new press: {ev:?}"
        );
        assert_eq!(ev.len(), 2);
        // A long event in segments: one start for all of them.
        rx.handle_packet(t0 + ms(500), 10_000, &payload(0, false, 0xFFFF));
        rx.handle_packet(t0 + ms(520), 10_000 + 0xFFFF, &payload(0, false, 800));
        rx.handle_packet(t0 + ms(540), 10_000 + 0xFFFF, &payload(0, true, 1600));
        let ev = all(&mut rx);
        assert_eq!(starts(&ev), ['0']);
        assert_eq!(ev.len(), 2);
        // An event whose end never comes: started at once, ended by the timeout, once.
        rx.handle_packet(t0 + ms(700), 90_000, &payload(11, false, 160));
        assert_eq!(starts(&all(&mut rx)), ['#']);
        rx.handle_timeout(t0 + ms(950));
        let ev = all(&mut rx);
        assert!(matches!(ev[..], [ReceiverEvent::Ended(e)] if e.ended_by == EventEnd::Timeout));
        rx.handle_packet(t0 + ms(960), 90_000, &payload(11, true, 1600));
        assert_eq!(all(&mut rx), []);
    }

    fn run_sender(tx: &mut EventSender, ticks: u32) -> Vec<(u32, EventTick)> {
        (0..ticks).map(|k| (k, tx.tick(5000 + 160 * k))).collect()
    }

    #[test]
    fn rfc4733_2_5_1_sender_durations_marker_and_three_end_packets() {
        let mut tx = EventSender::new(8000, ms(20));
        tx.push(
            &[digit('1'), digit('#')],
            DtmfTiming {
                tone: ms(100),
                pause: ms(100),
            },
        );
        let ticks = run_sender(&mut tx, 30);
        let packets: Vec<_> = ticks
            .iter()
            .filter_map(|(k, t)| t.packet.map(|p| (*k, p)))
            .collect();
        // Digit 1: ticks 0–4 carry 160..800, tick 4 is the first end, 5 and 6 repeat it.
        let first: Vec<_> = packets
            .iter()
            .filter(|(_, p)| p.payload.event == 1)
            .collect();
        assert_eq!(first.len(), 7);
        assert!(first[0].1.marker && first.iter().skip(1).all(|(_, p)| !p.marker));
        assert!(first.iter().all(|(_, p)| p.timestamp == 5000));
        let durations: Vec<_> = first.iter().map(|(_, p)| p.payload.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<_> = first.iter().map(|(_, p)| p.payload.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert_eq!(ticks[6].1.finished, Some(digit('1')));
        // The pause runs 100 ms from the tone's end (tick 5): digit # starts at tick 10.
        let second: Vec<_> = packets
            .iter()
            .filter(|(_, p)| p.payload.event == 11)
            .collect();
        assert_eq!(second[0].0, 10);
        assert_eq!(second[0].1.timestamp, 5000 + 160 * 10);
        assert!(second[0].1.marker);
        assert_eq!(second.len(), 7);
        assert!(tx.is_idle());
    }

    #[test]
    fn sender_at_48000_and_uneven_tone_lengths() {
        let mut tx = EventSender::new(48_000, ms(20));
        tx.push(
            &[digit('9')],
            DtmfTiming {
                tone: ms(50),
                pause: ms(0),
            },
        );
        let ticks = run_sender(&mut tx, 6);
        let d: Vec<_> = ticks
            .iter()
            .filter_map(|(_, t)| t.packet)
            .map(|p| (p.payload.duration, p.payload.end))
            .collect();
        assert_eq!(
            d,
            [
                (960, false),
                (1920, false),
                (2400, true),
                (2400, true),
                (2400, true)
            ]
        );
        assert!(tx.is_idle());
    }

    #[test]
    fn sender_and_receiver_agree() {
        let t0 = start();
        let mut tx = EventSender::new(8000, ms(20));
        let digits: Vec<Digit> = Digit::ALL.to_vec();
        tx.push(
            &digits,
            DtmfTiming {
                tone: ms(80),
                pause: ms(60),
            },
        );
        let mut rx = EventReceiver::new(8000, ms(250));
        let mut got = Vec::new();
        for k in 0..400u32 {
            if let Some(p) = tx.tick(160 * k).packet {
                rx.handle_packet(
                    t0 + ms(20 * u64::from(k)),
                    p.timestamp,
                    &p.payload.to_bytes(),
                );
            }
            while let Some(ev) = rx.poll_digit() {
                assert_eq!(ev.duration, 640);
                got.push(ev.digit);
            }
        }
        assert_eq!(got, digits);
    }
}
