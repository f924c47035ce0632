//! Talk: a browser's microphone and speaker in a call, over WebRTC (issue 19).
//!
//! The page (or any WHEP-style client) posts an SDP offer; the gateway answers it with
//! str0m, sans-IO WebRTC, as an ICE-lite peer with one host candidate (the address the
//! browser reached the page at, or the gateway's advertised address behind the
//! Supervisor's ingress), DTLS-SRTP and Opus. Each session is a task with its own UDP
//! socket: it feeds str0m with datagrams and timeouts, hands the browser's Opus, decoded,
//! to the loop (which mixes it into the call's outgoing audio, as a bridge does) and sends
//! the call's received audio, which the loop hands it each tick, encoded as Opus.
//!
//! str0m's cryptography is ours (`talk/crypto.rs`): RustCrypto and dimpl's DTLS, the
//! certificate by rcgen over ring; the product's TLS stays rustls with ring.

mod crypto;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hasip_engine::CallKey;
use hasip_media::codec::{AudioCodec, Codec};
use str0m::change::SdpOffer;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Opus at 48 kHz, 20 ms frames.
const RATE: u32 = 48_000;
const FRAME: usize = 960;
/// The longest Opus frame: 120 ms at 48 kHz.
const MAX_DECODED: usize = 5760;
/// A browser that sends nothing for this long is gone.
const SILENT_FOR: Duration = Duration::from_secs(15);

/// What a talk session tells the loop.
#[derive(Debug)]
pub(crate) enum TalkEvent {
    /// The offer was answered: hand the session the call's audio.
    Started {
        call: CallKey,
        id: String,
        talk: Talk,
    },
    /// 48 kHz PCM from the browser's microphone.
    Audio { call: CallKey, pcm: Vec<i16> },
    /// The browser left (or the session failed): stop handing it audio.
    Ended { call: CallKey },
}

/// The loop's handle of a talk session: the call's audio goes to it frame by frame.
#[derive(Debug)]
pub(crate) struct Talk {
    to_browser: mpsc::Sender<(Vec<i16>, u32)>,
}

impl Talk {
    /// One frame of the call's received audio at `rate`; dropped when the session lags.
    pub(crate) fn send(&self, pcm: &[i16], rate: u32) {
        let _ = self.to_browser.try_send((pcm.to_vec(), rate));
    }
}

/// Answers `offer` for `call` with a new session whose host candidate is `ip`, and starts
/// it. Returns the SDP answer and the loop's handle.
///
/// # Errors
/// The offer cannot be read or has no audio the gateway can take, or no socket.
pub(crate) async fn start(
    call: CallKey,
    offer: &str,
    ip: IpAddr,
    events: mpsc::Sender<TalkEvent>,
) -> Result<(String, Talk), String> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| format!("no UDP port on {ip} for the browser: {e}"))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("the browser's UDP port: {e}"))?;
    let mut rtc = Rtc::builder()
        .set_crypto_provider(crypto::provider())
        .set_ice_lite(true)
        .clear_codecs()
        .enable_opus(true, false)
        .build(Instant::now());
    let candidate = Candidate::host(local, "udp").map_err(|e| format!("candidate {local}: {e}"))?;
    rtc.add_local_candidate(candidate);
    let offer = SdpOffer::from_sdp_string(offer).map_err(|e| format!("the SDP offer: {e}"))?;
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| format!("the SDP offer cannot be answered: {e}"))?;
    let codec = Codec::Opus
        .instantiate()
        .map_err(|e| format!("Opus: {e}"))?;
    let (to_browser, from_loop) = mpsc::channel(16);
    tracing::info!(call = call.0, %local, "browser talk: offer answered");
    tokio::spawn(run(Session {
        call,
        rtc,
        socket,
        local,
        codec,
        mid: None,
        pt: None,
        pending: Vec::with_capacity(FRAME * 4),
        decoded: vec![0; MAX_DECODED],
        media_time: 0,
        last_heard: Instant::now(),
        events,
        from_loop,
    }));
    Ok((answer.to_sdp_string(), Talk { to_browser }))
}

struct Session {
    call: CallKey,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    codec: Box<dyn AudioCodec>,
    /// The audio m-line and the Opus payload type, once the session has them.
    mid: Option<Mid>,
    pt: Option<Pt>,
    /// The call's audio at 48 kHz not yet sent (at most three frames).
    pending: Vec<i16>,
    /// Where the browser's Opus is decoded, reused for every packet.
    decoded: Vec<i16>,
    /// RTP time of the next frame we send, at 48 kHz.
    media_time: u64,
    last_heard: Instant,
    events: mpsc::Sender<TalkEvent>,
    from_loop: mpsc::Receiver<(Vec<i16>, u32)>,
}

async fn run(mut s: Session) {
    let mut buf = vec![0u8; 2000];
    let why = loop {
        // Drain str0m to its next timeout after every input (its one rule).
        let timeout = match s.drain().await {
            Ok(t) => t,
            Err(why) => break why,
        };
        let wait = tokio::time::Instant::from_std(timeout.min(s.last_heard + SILENT_FOR));
        let input = tokio::select! {
            r = s.socket.recv_from(&mut buf) => match r {
                Ok((n, source)) => match buf[..n].try_into() {
                    Ok(contents) => Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: s.local, contents },
                    ),
                    // Not STUN, DTLS or RTP: nothing for str0m.
                    Err(_) => continue,
                },
                Err(e) => break format!("the browser's socket: {e}"),
            },
            () = tokio::time::sleep_until(wait) => {
                if Instant::now() >= s.last_heard + SILENT_FOR {
                    break "nothing from the browser for 15 s".to_owned();
                }
                Input::Timeout(Instant::now())
            }
            frame = s.from_loop.recv() => match frame {
                Some((pcm, rate)) => {
                    if let Err(why) = s.send_audio(&pcm, rate) {
                        break why;
                    }
                    continue;
                }
                None => break "the call ended".to_owned(),
            },
        };
        if let Input::Receive(..) = input {
            s.last_heard = Instant::now();
        }
        if let Err(e) = s.rtc.handle_input(input) {
            break format!("WebRTC: {e}");
        }
    };
    tracing::info!(call = s.call.0, why, "browser talk ended");
    s.rtc.disconnect();
    let _ = s.events.send(TalkEvent::Ended { call: s.call }).await;
}

impl Session {
    /// Polls str0m until it asks for nothing but a timeout: datagrams go out, media comes
    /// in. `Err` ends the session.
    async fn drain(&mut self) -> Result<Instant, String> {
        loop {
            match self.rtc.poll_output().map_err(|e| format!("WebRTC: {e}"))? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    if let Err(e) = self.socket.try_send_to(&t.contents, t.destination) {
                        tracing::debug!(to = %t.destination, error = %e, "browser talk: send failed");
                    }
                }
                Output::Event(e) => self.event(e).await?,
            }
        }
    }

    async fn event(&mut self, e: Event) -> Result<(), String> {
        match e {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err("the browser disconnected".to_owned());
            }
            Event::Connected => tracing::info!(call = self.call.0, "browser talk: connected"),
            Event::MediaAdded(m) => {
                self.mid = Some(m.mid);
                self.pt = self.rtc.writer(m.mid).and_then(|w| {
                    w.payload_params()
                        .find(|p| p.spec().codec == str0m::format::Codec::Opus)
                        .map(|p| p.pt())
                });
            }
            Event::MediaData(d) => {
                match self.codec.decode(&d.data, &mut self.decoded) {
                    Ok(n) => {
                        // The one allocation per packet: what crosses to the loop.
                        let pcm = self.decoded[..n].to_vec();
                        let _ = self
                            .events
                            .send(TalkEvent::Audio {
                                call: self.call,
                                pcm,
                            })
                            .await;
                    }
                    Err(e) => tracing::debug!(error = %e, "browser talk: an Opus packet"),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The call's audio to the browser: to 48 kHz, then one Opus frame per 20 ms.
    fn send_audio(&mut self, pcm: &[i16], rate: u32) -> Result<(), String> {
        let (Some(mid), Some(pt)) = (self.mid, self.pt) else {
            return Ok(());
        };
        hasip_media::mix::resample_into(pcm, rate, RATE, &mut self.pending);
        // At most 60 ms waits (a late loop); more is dropped, oldest first.
        if self.pending.len() > 3 * FRAME {
            let excess = self.pending.len() - 3 * FRAME;
            self.pending.drain(..excess);
        }
        let mut out = [0u8; 1500];
        // One frame per input: str0m is drained after each write.
        if self.pending.len() >= FRAME {
            let n = self
                .codec
                .encode(&self.pending[..FRAME], &mut out)
                .map_err(|e| format!("Opus: {e}"))?;
            self.pending.drain(..FRAME);
            let time = MediaTime::new(self.media_time, Frequency::FORTY_EIGHT_KHZ);
            self.media_time += FRAME as u64;
            if let Some(w) = self.rtc.writer(mid) {
                w.write(pt, Instant::now(), time, out[..n].to_vec())
                    .map_err(|e| format!("WebRTC: {e}"))?;
            }
        }
        Ok(())
    }
}
