//! RFC 4475's fifty messages exactly as its Appendix A archives them
//! (`tests/fixtures/rfc4475`, pinned by SHA-256), each sent unchanged to the running
//! gateway over UDP and over TCP. Every case has its outcome: the status the gateway
//! answers, or that it answers nothing over a window (responses that match no transaction,
//! a message without a Via), or — over a stream — that it waits for the rest of a message
//! or closes a stream it can no longer frame. Valid messages are served as what they are
//! (an OPTIONS answered, an INVITE ringing, a REGISTER refused by a non-registrar).
//!
//! The gateway runs its embedded default configuration: no account, so calls from loopback
//! for any user ring (in listen mode). Over UDP each message is sent from 127.0.0.45 at the
//! port its top Via names (5060 unless it says otherwise): a Via without `rport` is answered
//! at the source IP and the Via's port (RFC 3261 §18.2.2), so an answer arriving there also
//! shows it was routed as the RFC says. UDP and TCP run against two gateways, since a
//! message repeated over another transport is the same transaction (same branch).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hasip_tests::gateway::Gateway;
use hasip_tests::raw;
use hasip_tests::workdir::WorkDir;
use sha2::{Digest, Sha256};

/// How long an answer may take.
const ANSWER: Duration = Duration::from_secs(3);
/// How long nothing must come where nothing is the outcome.
const QUIET: Duration = Duration::from_millis(500);
/// The sender's address over UDP: another loopback address, free at the Via ports.
const SENDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 45));

/// What the gateway does with one message on one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// This status (the first answer that is not a 100 Trying).
    Status(u16),
    /// No answer over [`QUIET`] (over TCP: and the connection stays open).
    Silent,
    /// Over TCP: the gateway closes the connection without an answer.
    Closed,
}
use Outcome::{Closed, Silent, Status};

struct Case {
    file: &'static str,
    /// RFC 4475's section (`-` for the archive's `test.dat`, which no section names).
    section: &'static str,
    udp: Outcome,
    tcp: Outcome,
    /// The port of the top Via (where a UDP answer goes when the Via asks no `rport`).
    via_port: u16,
}

const fn case(file: &'static str, section: &'static str, udp: Outcome, tcp: Outcome) -> Case {
    Case {
        file,
        section,
        udp,
        tcp,
        via_port: 5060,
    }
}

const fn both(file: &'static str, section: &'static str, outcome: Outcome) -> Case {
    case(file, section, outcome, outcome)
}

/// Every member of the archive, in the RFC's order.
const CASES: &[Case] = &[
    // §3.1.1 valid messages. wsinv carries a To tag: a request in a dialog the gateway does
    // not have (481). Unknown methods (intmeth; esc02, whose escaped method is not REGISTER)
    // get 501; REGISTER and MESSAGE 405 from a gateway that is neither registrar nor
    // messaging endpoint.
    both("wsinv.dat", "3.1.1.1", Status(481)),
    both("intmeth.dat", "3.1.1.2", Status(501)),
    both("esc01.dat", "3.1.1.3", Status(180)),
    both("escnull.dat", "3.1.1.4", Status(405)),
    both("esc02.dat", "3.1.1.5", Status(501)),
    both("lwsdisp.dat", "3.1.1.6", Status(200)),
    both("longreq.dat", "3.1.1.7", Status(180)),
    // The octets after the REGISTER are a second request over a stream only (checked below).
    both("dblreq.dat", "3.1.1.8", Status(405)),
    both("semiuri.dat", "3.1.1.9", Status(200)),
    both("transports.dat", "3.1.1.10", Status(200)),
    Case {
        via_port: 5070,
        ..both("mpart01.dat", "3.1.1.11", Status(405))
    },
    both("unreason.dat", "3.1.1.12", Silent),
    both("noreason.dat", "3.1.1.13", Silent),
    // §3.1.2 invalid messages. Over a stream, a Content-Length past the end means "more is
    // coming" (clerr), one that cannot be read ends the stream (ncl, and mcl01 below), and
    // baddn's archived bytes lack the empty line that ends a header.
    both("badinv01.dat", "3.1.2.1", Status(400)),
    case("clerr.dat", "3.1.2.2", Status(400), Silent),
    case("ncl.dat", "3.1.2.3", Status(400), Closed),
    both("scalar02.dat", "3.1.2.4", Status(400)),
    both("scalarlg.dat", "3.1.2.5", Silent),
    Case {
        via_port: 5050,
        ..both("quotbal.dat", "3.1.2.6", Status(400))
    },
    both("ltgtruri.dat", "3.1.2.7", Status(400)),
    both("lwsruri.dat", "3.1.2.8", Status(400)),
    both("lwsstart.dat", "3.1.2.9", Status(400)),
    both("trws.dat", "3.1.2.10", Status(400)),
    both("escruri.dat", "3.1.2.11", Status(400)),
    // The RFC lets an element that does not use Date ignore its bad time zone.
    both("baddate.dat", "3.1.2.12", Status(180)),
    both("regbadct.dat", "3.1.2.13", Status(400)),
    both("badaspec.dat", "3.1.2.14", Status(400)),
    case("baddn.dat", "3.1.2.15", Status(400), Silent),
    both("badvers.dat", "3.1.2.16", Status(505)),
    both("mismatch01.dat", "3.1.2.17", Status(400)),
    both("mismatch02.dat", "3.1.2.18", Status(501)),
    both("bigcode.dat", "3.1.2.19", Silent),
    // §3.2: a branch that is only the magic cookie is no RFC 3261 transaction id; the
    // request is still served.
    both("badbranch.dat", "3.2.1", Status(200)),
    // §3.3 application-layer semantics.
    both("insuf.dat", "3.3.1", Status(400)),
    both("unkscm.dat", "3.3.2", Status(416)),
    both("novelsc.dat", "3.3.3", Status(416)),
    both("unksm2.dat", "3.3.4", Status(405)),
    both("bext01.dat", "3.3.5", Status(420)),
    both("invut.dat", "3.3.6", Status(415)),
    both("regaut01.dat", "3.3.7", Status(405)),
    both("multi01.dat", "3.3.8", Status(400)),
    case("mcl01.dat", "3.3.9", Status(400), Closed),
    both("bcast.dat", "3.3.10", Silent),
    // Max-Forwards 0 at the request's target: answered, not 483.
    both("zeromf.dat", "3.3.11", Status(200)),
    both("cparam01.dat", "3.3.12", Status(405)),
    both("cparam02.dat", "3.3.13", Status(405)),
    both("regescrt.dat", "3.3.14", Status(405)),
    both("sdp01.dat", "3.3.15", Status(406)),
    // §4: RFC 2543 syntax (no branch) is still understood.
    both("inv2543.dat", "4.1", Status(180)),
    // No SIP version and no Via: nothing to answer with.
    both("test.dat", "-", Silent),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rfc4475")
}

/// The archive's bytes of `file`, after checking them against `SHA256SUMS`.
fn message(file: &str) -> Vec<u8> {
    let dir = fixtures();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("read SHA256SUMS");
    let want = sums
        .lines()
        .find_map(|l| l.strip_suffix(file)?.strip_suffix("  "))
        .unwrap_or_else(|| panic!("{file} is not in SHA256SUMS"));
    let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let got: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, want, "{file} is not the archive's bytes");
    bytes
}

/// The message's Call-ID (long or compact name), if it has one.
fn call_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_owned())
    })
}

/// Whether `answer` is for the message whose Call-ID is `id`: an answer carries the
/// request's Call-ID, or none when the request had none.
fn answers(answer: &str, id: Option<&str>) -> bool {
    raw::header(answer, "Call-ID")
        .or_else(|| raw::header(answer, "i"))
        .is_none_or(|got| Some(got) == id)
}

/// Every case is in the table once, and the table holds the whole archive.
#[test]
fn the_table_covers_the_archive_and_the_archive_is_unchanged() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .expect("read fixtures/rfc4475")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".dat"))
        .collect();
    files.sort();
    let mut table: Vec<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    table.sort();
    assert_eq!(files, table);
    assert_eq!(files.len(), 50, "Appendix A archives 50 messages");
    for c in CASES {
        message(c.file);
    }
}

/// The distinct answers for this message (their texts) over UDP, sent from [`SENDER`] at
/// its Via's port; waits [`ANSWER`] for the first, then [`QUIET`] for more (answers to
/// earlier messages are skipped by Call-ID).
fn over_udp(gw: SocketAddr, c: &Case, bytes: &[u8], id: Option<&str>) -> Vec<String> {
    let sock = UdpSocket::bind(SocketAddr::new(SENDER, c.via_port))
        .unwrap_or_else(|e| panic!("{}: bind {SENDER}:{}: {e}", c.file, c.via_port));
    sock.send_to(bytes, gw)
        .unwrap_or_else(|e| panic!("{}: send: {e}", c.file));
    let mut got = Vec::new();
    let mut deadline = Instant::now() + if c.udp == Silent { QUIET } else { ANSWER };
    let mut buf = vec![0u8; 65_536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 100 ") || !answers(&text, id) {
            continue;
        }
        if got.is_empty() {
            deadline = Instant::now() + QUIET;
        }
        // A final answer to an INVITE is sent again until the ACK (Timer G): one answer.
        if !got.contains(&text) {
            got.push(text);
        }
    }
    got
}

#[test]
fn the_archives_messages_over_udp_get_their_outcomes() {
    let dir = WorkDir::new("rfc4475-replay-udp");
    let mut gw = Gateway::start(&dir);
    let mut wrong = Vec::new();
    for c in CASES {
        let bytes = message(c.file);
        let id = call_id(&bytes);
        let got = over_udp(gw.sip, c, &bytes, id.as_deref());
        let codes: Vec<Option<u16>> = got.iter().map(|a| raw::status(a)).collect();
        let want: Vec<Option<u16>> = match c.udp {
            Status(code) => vec![Some(code)],
            Silent | Closed => Vec::new(),
        };
        // Exactly one answer: for dblreq this also shows the INVITE after the REGISTER's
        // end was ignored, as §3.1.1.8 requires of a datagram.
        if codes != want {
            wrong.push(format!(
                "{} (§{}): want {want:?}, got {codes:?} {:?}",
                c.file,
                c.section,
                got.iter().map(|a| a.lines().next()).collect::<Vec<_>>()
            ));
        }
        assert!(gw.is_running(), "{}: the gateway died", c.file);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let ok = raw::udp_exchange(gw.sip, &raw::options(gw.sip, "UDP", "after"), ANSWER)
        .expect("OPTIONS after the archive");
    assert_eq!(raw::status(&ok), Some(200));
}

#[test]
fn the_archives_messages_over_tcp_get_their_outcomes() {
    let dir = WorkDir::new("rfc4475-replay-tcp");
    let mut gw = Gateway::start(&dir);
    let mut wrong = Vec::new();
    for c in CASES {
        let bytes = message(c.file);
        let window = if c.tcp == Silent { QUIET } else { ANSWER };
        let got = match raw::tcp_request_bytes(gw.sip, &bytes, window) {
            raw::TcpOutcome::Answer(a) => Status(raw::status(&a).unwrap_or(0)),
            raw::TcpOutcome::TimedOut => Silent,
            raw::TcpOutcome::Closed => Closed,
            raw::TcpOutcome::Failed(e) => panic!("{}: {e}", c.file),
        };
        if got != c.tcp {
            wrong.push(format!(
                "{} (§{}): want {:?}, got {got:?}",
                c.file, c.section, c.tcp
            ));
        }
        assert!(gw.is_running(), "{}: the gateway died", c.file);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let ok = raw::tcp_exchange(gw.sip, &raw::options(gw.sip, "TCP", "after"), ANSWER)
        .expect("OPTIONS after the archive");
    assert_eq!(raw::status(&ok), Some(200));
}

/// Over a stream, dblreq's octets after the REGISTER are the next message: the INVITE is
/// served on the same connection after the REGISTER's 405 (over UDP they are ignored, above).
#[test]
fn dblreq_over_tcp_is_two_requests_answered_in_order() {
    let dir = WorkDir::new("rfc4475-replay-dblreq");
    let gw = Gateway::start(&dir);
    let bytes = message("dblreq.dat");
    let mut s = TcpStream::connect_timeout(&gw.sip, ANSWER).expect("connect");
    s.write_all(&bytes).expect("write dblreq");
    let mut got = Vec::new();
    let mut statuses = Vec::new();
    let deadline = Instant::now() + ANSWER;
    let mut buf = [0u8; 4096];
    while statuses.len() < 2 {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        // Heads only: none of these answers carries a body.
        while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            got.drain(..end + 4);
            if !head.starts_with("SIP/2.0 100 ") {
                statuses.push((
                    raw::status(&head),
                    raw::header(&head, "CSeq").map(str::to_owned),
                ));
            }
        }
    }
    assert_eq!(
        statuses,
        vec![
            (Some(405), Some("8 REGISTER".to_owned())),
            (Some(180), Some("8 INVITE".to_owned())),
        ]
    );
}
