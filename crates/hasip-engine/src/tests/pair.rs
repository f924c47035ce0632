//! A two-sided driver in virtual time (issue 18): the engine against a `UserAgent` playing
//! the phone, exchanging their datagrams directly. `step` delivers what each side sent;
//! `drive` steps and advances the clock to the next deadline, a bounded number of times.
//! Many-call and racing scenarios run in milliseconds without hand-written SIP text.

use hasip_sip::ua::{UaConfig, UaEvent, UserAgent};

use super::*;

const GATEWAY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5060);

fn offer() -> Bytes {
    Bytes::from_static(
        b"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
    )
}

struct Pair {
    engine: Engine,
    phone: UserAgent,
    base: Instant,
    now: Instant,
    events: Vec<Event>,
    phone_events: Vec<UaEvent>,
}

impl Pair {
    /// Many calls from one phone: no flood limit.
    fn new(mode: AnswerMode) -> Self {
        Self::with_rate(
            mode,
            hasip_sip::admission::CallRate {
                per_second: 0,
                burst: 0,
            },
        )
    }

    fn with_rate(mode: AnswerMode, call_rate: hasip_sip::admission::CallRate) -> Self {
        let base = t0();
        let mut engine = Engine::new(
            Config {
                accounts: vec![account(mode, 0)],
                call_rate,
                ..Config::default()
            },
            11,
        );
        engine.start(base);
        let phone = UserAgent::new(
            UaConfig {
                user_agent: "phone".into(),
                local: vec![(Transport::Udp, phone().addr)],
                timers: Default::default(),
                accounts: Vec::new(),
                call_rate: hasip_sip::admission::CallRate {
                    per_second: 0,
                    burst: 0,
                },
            },
            12,
        );
        Self {
            engine,
            phone,
            base,
            now: base,
            events: Vec::new(),
            phone_events: Vec::new(),
        }
    }

    /// Delivers what each side has sent to the other, until neither sends more; true when
    /// something moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        loop {
            let mut any = false;
            while let Some(o) = self.engine.poll_output() {
                any = true;
                match o {
                    Output::Transmit(t) => {
                        let from = Peer {
                            transport: Transport::Udp,
                            addr: GATEWAY,
                            connection: None,
                        };
                        self.phone.handle_datagram(self.now, from, t.payload);
                    }
                    Output::BindRtp { call } => self.engine.handle_rtp_bound(
                        self.now,
                        call,
                        Ok(SocketAddr::from(([127, 0, 0, 1], 40_000))),
                    ),
                    Output::Event(ev) => self.events.push(ev),
                    _ => {}
                }
            }
            while let Some(t) = self.phone.poll_transmit() {
                any = true;
                self.engine.handle_sip(self.now, phone(), t.payload);
            }
            while let Some(ev) = self.phone.poll_event() {
                self.phone_events.push(ev);
            }
            if !any {
                return moved;
            }
            moved = true;
        }
    }

    /// Steps, then moves the clock to the next deadline of either side, at most `turns`
    /// times or until `until` (ms from the start).
    fn drive(&mut self, turns: usize, until: u64) {
        let end = self.base + Duration::from_millis(until);
        for _ in 0..turns {
            self.step();
            let next = [self.engine.poll_timeout(), self.phone.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.engine.handle_timeout(self.now);
                    self.phone.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.step();
    }

    fn count(&self, name: &str) -> usize {
        self.events.iter().filter(|e| e.kind.name() == name).count()
    }

    fn dial(&mut self) -> hasip_sip::ua::CallRef {
        self.phone
            .invite(
                self.now,
                None,
                "sip:hasip@127.0.0.1:5060",
                offer(),
                Vec::new(),
            )
            .unwrap()
    }
}

#[test]
fn fifty_calls_in_and_out_leave_nothing_behind() {
    let mut p = Pair::new(AnswerMode::Accept);
    let calls: Vec<_> = (0..50).map(|_| p.dial()).collect();
    p.drive(1_000, 2_000);
    assert_eq!(p.count("incoming_call"), 50);
    assert_eq!(p.count("call_established"), 50);
    for c in calls {
        p.phone.hangup(p.now, c).unwrap();
    }
    p.drive(1_000, 40_000);
    assert_eq!(p.count("call_disconnected"), 50);
    assert_eq!(p.engine.call_count(), 0);
    assert_eq!(p.phone.call_count(), 0);
    // The calls' deadlines went with them: the ring timeouts 300 s ahead wake nobody
    // (nothing else is due but the registrations' refresh, and there are none here), and
    // the heap holds a bounded number of stale entries.
    assert_eq!(p.engine.poll_timeout(), None);
    assert!(
        p.engine.deadlines.len() <= 64,
        "{}",
        p.engine.deadlines.len()
    );
}

#[test]
fn a_cancel_that_crosses_the_200_ends_the_call_on_both_sides() {
    let mut p = Pair::new(AnswerMode::Accept);
    let c = p.dial();
    // The INVITE reaches the gateway, which answers at once; the phone cancels before it
    // has read the answer: CANCEL and 200 cross.
    while let Some(t) = p.phone.poll_transmit() {
        p.engine.handle_sip(p.now, phone(), t.payload);
    }
    p.phone.hangup(p.now, c).unwrap();
    p.drive(1_000, 40_000);
    assert_eq!(p.count("call_disconnected"), 1, "{:?}", p.events);
    assert_eq!(p.engine.call_count(), 0);
    assert_eq!(p.phone.call_count(), 0);
    assert!(
        p.phone_events
            .iter()
            .any(|e| matches!(e, UaEvent::Ended { call, .. } if *call == c)),
        "{:?}",
        p.phone_events
    );
}

#[test]
fn a_burst_of_calls_from_one_phone_rings_only_as_often_as_the_call_rate_allows() {
    let mut p = Pair::with_rate(
        AnswerMode::Listen,
        hasip_sip::admission::CallRate::default(),
    );
    for _ in 0..50 {
        p.dial();
    }
    p.drive(1_000, 500);
    // 10 at once; the other 40 are answered 503 and end on the phone's side.
    assert_eq!(p.count("incoming_call"), 10);
    let busy = p
        .phone_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                UaEvent::Ended {
                    reason: hasip_sip::ua::EndReason::Rejected { code: 503, .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(busy, 40, "{:?}", p.phone_events);
}
