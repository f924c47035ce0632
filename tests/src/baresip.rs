//! baresip (Debian package `baresip-core`) as a real softphone or intercom: headless, G.711,
//! scripted over its `ctrl_tcp` module (JSON in netstrings). One instance per test, on free
//! ports; every UA event is collected for assertions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::Guard;
use crate::workdir::WorkDir;
use crate::{ports, wait_for};

/// How to start baresip.
#[derive(Debug, Clone)]
pub struct BaresipOptions {
    /// Account user (and password unless `pass` is set).
    pub user: String,
    /// Digest password.
    pub pass: Option<String>,
    /// Register at this registrar; `None` for a registrar-less intercom.
    pub registrar: Option<SocketAddr>,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// Answer incoming calls by itself.
    pub auto_answer: bool,
    /// What it says on a call: a WAV file (8 kHz mono 16-bit is safest), followed by
    /// silence; `None`: silence only.
    pub source: Option<PathBuf>,
    /// Its codecs in order of preference (baresip's `audio_codecs`): any of `opus`,
    /// `g722`, `pcmu`, `pcma`. Default `pcmu,pcma`.
    pub codecs: &'static str,
    /// The CA it trusts for TLS servers (`sip_cafile`).
    pub cafile: Option<PathBuf>,
    /// Its SIP and RTP address (127.0.0.1; a WAN address in the NAT tests).
    pub address: std::net::IpAddr,
}

impl BaresipOptions {
    /// A user registering at `registrar` over UDP, answering automatically.
    pub fn registered(user: &str, registrar: SocketAddr) -> Self {
        Self {
            user: user.to_owned(),
            pass: None,
            registrar: Some(registrar),
            transport: "udp",
            auto_answer: true,
            source: None,
            codecs: "pcmu,pcma",
            cafile: None,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }

    /// A registrar-less intercom reachable at its own address.
    pub fn direct(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            pass: None,
            registrar: None,
            transport: "udp",
            auto_answer: true,
            source: None,
            codecs: "pcmu,pcma",
            cafile: None,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }
}

/// A running baresip, stopped when dropped.
#[derive(Debug)]
pub struct Baresip {
    /// Its SIP address.
    pub sip: SocketAddr,
    /// Its account user.
    pub user: String,
    /// Where its recordings go (`dump-*-dec.wav` received, `-enc.wav` sent).
    pub rec_dir: PathBuf,
    events: Arc<Mutex<Vec<Value>>>,
    responses: Arc<Mutex<Vec<Value>>>,
    ctrl: Mutex<TcpStream>,
    next_token: Mutex<u64>,
    _process: Guard,
}

/// A WAV file of silence, mono 16 bit at `rate`: baresip's `aufile` source needs one, and the
/// call ends when it ends.
fn silence_wav(path: &std::path::Path, seconds: u32, rate: u32, channels: u16) {
    let samples = rate * seconds * u32::from(channels);
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&channels.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    w.extend_from_slice(&(2 * channels).to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.resize(44 + data_len as usize, 0);
    std::fs::write(path, w).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `from`'s audio followed by `pad` seconds of silence, as a mono 16-bit WAV at `rate`
/// (sox converts).
fn source_wav(from: &std::path::Path, to: &std::path::Path, pad: u32, rate: u32, channels: u16) {
    let status = Command::new("sox")
        .arg(from)
        .args([
            "-r",
            &rate.to_string(),
            "-c",
            &channels.to_string(),
            "-b",
            "16",
            "-e",
            "signed-integer",
        ])
        .arg(to)
        .args(["pad", "0", &pad.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("run sox (is sox installed?): {e}"));
    assert!(status.success(), "sox could not convert {}", from.display());
}

fn netstring(v: &Value) -> Vec<u8> {
    let body = v.to_string();
    format!("{}:{},", body.len(), body).into_bytes()
}

impl Baresip {
    /// Starts baresip and connects to its control port.
    ///
    /// # Panics
    /// When baresip is not installed or does not start within 10 s.
    pub fn start(dir: &WorkDir, opts: &BaresipOptions) -> Self {
        // baresip also opens a TLS listener on the SIP port + 1.
        let sip_port = ports::free_ports(2);
        let ctrl_port = ports::free_port();
        let rtp = ports::free_ports(20);
        let home = dir.file(&format!("baresip-{}-{sip_port}", opts.user));
        let rec = home.join("rec");
        std::fs::create_dir_all(&rec).unwrap_or_else(|e| panic!("create {}: {e}", rec.display()));
        let source = home.join("source.wav");
        // baresip's aufile source must have the codec's rate and channels.
        let (rate, channels) = match opts.codecs.split(',').next().unwrap_or("").trim() {
            "opus" => (48_000, 2),
            "g722" => (16_000, 1),
            _ => (8000, 1),
        };
        match &opts.source {
            Some(s) => source_wav(s, &source, 120, rate, channels),
            None => silence_wav(&source, 120, rate, channels),
        }
        let config = format!(
            "poll_method\t\tepoll\nsip_listen\t\t{addr}:{sip_port}\nnet_interface\t\t{addr}\n\
call_local_timeout\t120\ncall_max_calls\t\t4\naudio_source\t\taufile,{src}\naudio_alert\t\tnone,none\n\
audio_level\t\tno\nausrc_format\t\ts16\nauplay_format\t\ts16\nauenc_format\t\ts16\naudec_format\t\ts16\n\
audio_buffer\t\t20-160\nrtp_tos\t\t\t0\nrtp_ports\t\t{rtp}-{rtp_end}\nrtp_timeout\t\t0\n\
jitter_buffer_delay\t1-10\nrtp_stats\t\tno\nsnd_path\t\t{rec}\nctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n\
module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\n{wideband}module\t\t\taufile.so\nmodule\t\t\tsndfile.so\n\
module_tmp\t\tuuid.so\nmodule_tmp\t\taccount.so\nmodule_app\t\tcontact.so\nmodule_app\t\tmenu.so\n\
module_app\t\tctrl_tcp.so\n{cafile}",
            src = source.display(),
            addr = opts.address,
            rec = rec.display(),
            rtp_end = rtp + 19,
            cafile = opts
                .cafile
                .as_ref()
                .map(|c| format!("sip_cafile\t\t{}\n", c.display()))
                .unwrap_or_default(),
            wideband = ["g722", "opus"]
                .iter()
                .filter(|c| opts.codecs.contains(*c))
                .map(|c| format!("module\t\t\t{c}.so\n"))
                .collect::<String>(),
        );
        std::fs::write(home.join("config"), config).unwrap_or_else(|e| panic!("write config: {e}"));
        let pass = opts.pass.clone().unwrap_or_else(|| opts.user.clone());
        let answer = if opts.auto_answer { "auto" } else { "manual" };
        let params = format!(
            "auth_pass={pass};answermode={answer};audio_codecs={};ptime=20;mwi=no",
            opts.codecs
        );
        let account = match opts.registrar {
            Some(r) => format!(
                "<sip:{}@{r};transport={}>;{params};regint=300\n",
                opts.user, opts.transport
            ),
            None => format!(
                "<sip:{}@{}:{sip_port};transport={}>;{params};regint=0\n",
                opts.user, opts.address, opts.transport
            ),
        };
        std::fs::write(home.join("accounts"), account)
            .unwrap_or_else(|e| panic!("write accounts: {e}"));
        std::fs::write(home.join("contacts"), "").unwrap_or_else(|e| panic!("write contacts: {e}"));
        let log = home.join("baresip.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create log: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("clone: {e}"));
        let child = Command::new(crate::tool("baresip"))
            .arg("-f")
            .arg(&home)
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start baresip (is baresip-core installed?): {e}"));
        dir.attach_log(log);
        let guard = Guard::new("baresip", child);
        let ctrl = wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            TcpStream::connect(("127.0.0.1", ctrl_port)).ok()
        })
        .unwrap_or_else(|| panic!("baresip did not open its control port {ctrl_port}"));
        let events = Arc::new(Mutex::new(Vec::new()));
        let responses = Arc::new(Mutex::new(Vec::new()));
        let reader = ctrl
            .try_clone()
            .unwrap_or_else(|e| panic!("clone ctrl: {e}"));
        let (ev, rs) = (Arc::clone(&events), Arc::clone(&responses));
        std::thread::spawn(move || read_netstrings(reader, &ev, &rs));
        Self {
            sip: SocketAddr::new(opts.address, sip_port),
            user: opts.user.clone(),
            rec_dir: rec,
            events,
            responses,
            ctrl: Mutex::new(ctrl),
            next_token: Mutex::new(0),
            _process: guard,
        }
    }

    /// Sends a control command and waits (5 s) for its response.
    pub fn command(&self, command: &str, params: &str) -> Option<Value> {
        let token = {
            let mut n = self.next_token.lock().ok()?;
            *n += 1;
            format!("t{n}")
        };
        let msg = json!({"command": command, "params": params, "token": token});
        self.ctrl.lock().ok()?.write_all(&netstring(&msg)).ok()?;
        wait_for(Duration::from_secs(5), Duration::from_millis(5), || {
            self.responses
                .lock()
                .ok()?
                .iter()
                .find(|r| r["token"] == token.as_str())
                .cloned()
        })
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Waits until an event of `kind` (e.g. `CALL_ESTABLISHED`) has arrived `n` times.
    pub fn wait_event_n(&self, kind: &str, n: usize, timeout: Duration) -> Option<Value> {
        wait_for(timeout, Duration::from_millis(10), || {
            let evs = self.events();
            let m: Vec<&Value> = evs.iter().filter(|e| e["type"] == kind).collect();
            (m.len() >= n)
                .then(|| m.last().map(|v| (*v).clone()))
                .flatten()
        })
    }

    /// Waits until an event of `kind` has arrived.
    pub fn wait_event(&self, kind: &str, timeout: Duration) -> Option<Value> {
        self.wait_event_n(kind, 1, timeout)
    }

    /// The newest recording of a call: (`dec`: what baresip received, `enc`: what it sent).
    /// baresip finishes the files when the call closes.
    pub fn recordings(&self) -> Option<(PathBuf, PathBuf)> {
        let mut dec: Vec<PathBuf> = std::fs::read_dir(&self.rec_dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        dec.sort();
        let d = dec.pop()?;
        let e = PathBuf::from(d.to_string_lossy().replace("-dec.wav", "-enc.wav"));
        Some((d, e))
    }

    /// Waits until the account is registered (`reginfo` shows OK).
    pub fn wait_registered(&self, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(50), || {
            let r = self.command("reginfo", "")?;
            r["data"]
                .as_str()
                .is_some_and(|d| d.contains("OK"))
                .then_some(())
        })
        .is_some()
    }
}

fn read_netstrings(mut s: TcpStream, events: &Mutex<Vec<Value>>, responses: &Mutex<Vec<Value>>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Some(len) = std::str::from_utf8(&buf[..colon])
                .ok()
                .and_then(|l| l.parse::<usize>().ok())
            else {
                buf.clear();
                break;
            };
            if buf.len() < colon + 1 + len + 1 {
                break;
            }
            let body: Vec<u8> = buf[colon + 1..colon + 1 + len].to_vec();
            buf.drain(..colon + 1 + len + 1);
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                if v["event"] == true {
                    if let Ok(mut e) = events.lock() {
                        e.push(v);
                    }
                } else if let Ok(mut r) = responses.lock() {
                    r.push(v);
                }
            }
        }
    }
}
