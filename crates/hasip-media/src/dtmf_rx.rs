//! Received DTMF of one session: RFC 4733 events and in-band tones into one stream of
//! [`Event::Dtmf`] (the press, reported when it starts) and [`Event::DtmfEnded`].
//!
//! The in-band detector stops for good once the phone sends an RFC 4733 event (a phone
//! that speaks RFC 4733 puts no tones in its audio, and ha-sip's pjsua would not detect
//! both). A phone that sends a key both ways, its events a little behind its tones, makes
//! one digit: an event of the digit a tone carried that starts while the tone lasts, or
//! within [`SAME_PRESS`] of its end, is the same press, and neither its start nor its end
//! is reported.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::dtmf::{Digit, DtmfSource};
use crate::goertzel::{DetectorConfig, DetectorEvent, InbandDetector};
use crate::session::Event;
use crate::telephone_event::{EventReceiver, ReceiverEvent};

/// An RFC 4733 event of the digit an in-band tone carried, starting this soon after the
/// tone, is the same key press sent both ways.
pub(crate) const SAME_PRESS: Duration = Duration::from_millis(200);

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct DtmfReceiver {
    detector: Option<InbandDetector>,
    events: Option<EventReceiver>,
    /// An RFC 4733 packet arrived: the detector is off.
    saw_rfc4733: bool,
    /// The last in-band digit, and until when it counts as the same press for an RFC 4733
    /// event of that digit (`None` while the tone lasts).
    inband_press: Option<(Digit, Option<Instant>)>,
    /// The RFC 4733 event in progress was heard in-band: its end is not reported either.
    event_suppressed: bool,
}

impl DtmfReceiver {
    /// In-band detection on audio at `sample_rate` when `inband` is given; RFC 4733 events
    /// at `event_clock` Hz, ended `event_timeout` after their last packet, when given.
    pub(crate) fn new(
        sample_rate: u32,
        inband: Option<DetectorConfig>,
        event_clock: Option<u32>,
        event_timeout: Duration,
    ) -> Self {
        Self {
            detector: inband.map(|c| InbandDetector::new(sample_rate, c)),
            events: event_clock.map(|clock| EventReceiver::new(clock, event_timeout)),
            saw_rfc4733: false,
            inband_press: None,
            event_suppressed: false,
        }
    }

    /// One telephone-event packet.
    pub(crate) fn event_packet(
        &mut self,
        now: Instant,
        timestamp: u32,
        payload: &[u8],
        out: &mut VecDeque<Event>,
    ) {
        let Some(rx) = &mut self.events else {
            return;
        };
        rx.handle_packet(now, timestamp, payload);
        if !self.saw_rfc4733 {
            // The detector stops here: a tone it was hearing counts as ending now.
            self.saw_rfc4733 = true;
            if let Some((d, None)) = self.inband_press {
                self.inband_press = Some((d, Some(now + SAME_PRESS)));
            }
        }
        self.drain_events(now, out);
    }

    /// One packet's decoded audio.
    pub(crate) fn audio(&mut self, now: Instant, pcm: &[i16], out: &mut VecDeque<Event>) {
        let Some(det) = self.detector.as_mut().filter(|_| !self.saw_rfc4733) else {
            return;
        };
        det.process(pcm);
        while let Some(ev) = det.poll_event() {
            match ev {
                DetectorEvent::Started(digit) => {
                    self.inband_press = Some((digit, None));
                    out.push_back(Event::Dtmf {
                        digit,
                        source: DtmfSource::InBand,
                    });
                }
                DetectorEvent::Ended(d) => {
                    self.inband_press = Some((d.digit, Some(now + SAME_PRESS)));
                    out.push_back(Event::DtmfEnded {
                        digit: d.digit,
                        source: DtmfSource::InBand,
                        duration: d.duration,
                        clock_rate: d.sample_rate,
                    });
                }
            }
        }
    }

    /// Ends an RFC 4733 event whose end packets were lost.
    pub(crate) fn timeout(&mut self, now: Instant, out: &mut VecDeque<Event>) {
        if let Some(rx) = &mut self.events {
            rx.handle_timeout(now);
        }
        self.drain_events(now, out);
    }

    /// When an RFC 4733 event in progress times out.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.events.as_ref().and_then(EventReceiver::poll_timeout)
    }

    fn drain_events(&mut self, now: Instant, out: &mut VecDeque<Event>) {
        let Some(rx) = &mut self.events else {
            return;
        };
        while let Some(ev) = rx.poll_event() {
            match ev {
                ReceiverEvent::Started(digit) => {
                    self.event_suppressed = self
                        .inband_press
                        .is_some_and(|(d, until)| d == digit && until.is_none_or(|t| now <= t));
                    if !self.event_suppressed {
                        out.push_back(Event::Dtmf {
                            digit,
                            source: DtmfSource::Rfc4733,
                        });
                    }
                }
                ReceiverEvent::Ended(ev) => {
                    if !std::mem::take(&mut self.event_suppressed) {
                        out.push_back(Event::DtmfEnded {
                            digit: ev.digit,
                            source: DtmfSource::Rfc4733,
                            duration: ev.duration,
                            clock_rate: ev.clock_rate,
                        });
                    }
                }
            }
        }
    }
}
