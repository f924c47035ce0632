#!/usr/bin/env python3
"""Media latencies against the real gateway, on loopback.

  media_latency.py BINARY PORT CALLS

1. 200 OK -> first prompt packet: the gateway answers in accept mode (settle 0) with an
   incoming-call menu that plays a WAV file (decoded once, then from memory: "audio
   ready"); a UDP client calls, ACKs the 200 OK at once and times the 200 OK's arrival to
   the first RTP packet that is not silence.
2. RFC 4733 digit -> webhook: the gateway runs stand-alone against a small HTTP server in
   this process playing Home Assistant (HA_BASE_URL, HTTP/1.1 keep-alive); once a call is
   established the client sends a digit as RFC 4733 (start, then three end packets) and
   times the first end packet (a digit is reported when it ends) to the webhook POST
   carrying it.
Prints median / p90 / p99 / max for both. With HASIP_STALLS=FILE (bench/media_latency.sh
STALLS=1: bench/cpu_speed.rs writing FILE meanwhile), prints them again for the samples that
do not overlap a stretch in which the host ran this virtual machine's CPUs slower."""
import http.server, json, math, os, socket, statistics, struct, subprocess, sys, tempfile, threading, time

binary, port, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
work = tempfile.mkdtemp(prefix="hasip-media-bench-")

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]

# perf_counter() -> Unix time, to compare samples with bench/cpu_speed.rs's stretches.
unix_offset = time.time() - time.perf_counter()

def report(name, xs, starts):
    """xs: latencies in ms; starts: perf_counter() at each sample's start."""
    print(f"{name} over {len(xs)} calls: median {statistics.median(xs):.3f} ms, p90 {pct(xs, .9):.3f} ms, "
          f"p99 {pct(xs, .99):.3f} ms, max {max(xs):.3f} ms")
    path = os.environ.get("HASIP_STALLS")
    if not path:
        return
    slow = [(float(a) - 0.01, float(b) + 0.01) for _, a, b, _ in
            (l.split() for l in open(path) if l.startswith("slow "))]
    calm = [x for x, t in zip(xs, starts)
            if not any(a < t + unix_offset + x / 1000 and t + unix_offset < b for a, b in slow)]
    if calm:
        print(f"  outside the host's {len(slow)} slowdowns so far ({len(calm)} samples): median {statistics.median(calm):.3f} ms, "
              f"p90 {pct(calm, .9):.3f} ms, p99 {pct(calm, .99):.3f} ms, max {max(calm):.3f} ms")

# A 2 s 440 Hz prompt, 8 kHz 16-bit mono.
prompt = os.path.join(work, "prompt.wav")
n = 16000
data = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(n))
with open(prompt, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)
menu = os.path.join(work, "incoming.yaml")
with open(menu, "w") as f:
    f.write(f"menu:\n  audio_file: {prompt}\n  timeout: 60\n")

def start(opts, env=None):
    cfg = os.path.join(work, f"options-{len(os.listdir(work))}.json")
    with open(cfg, "w") as f:
        json.dump(opts, f)
    e = dict(os.environ); e.update(env or {})
    return subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--config", cfg],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rtp.bind(("127.0.0.1", 0))
rp = rtp.getsockname()[1]
SDP = ("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       f"m=audio {rp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")

def req(method, n, cseq, to_tag="", body=""):
    tt = f";tag={to_tag}" if to_tag else ""
    ct = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:hasip@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{method}{n}x{cseq};rport\r\n"
            f"From: <sip:bench@127.0.0.1:{lp}>;tag=f{n}\r\nTo: <sip:hasip@127.0.0.1:{port}>{tt}\r\nCall-ID: mbench-{n}@127.0.0.1\r\n"
            f"CSeq: {cseq} {method}\r\nContact: <sip:bench@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\n{ct}Content-Length: {len(body)}\r\n\r\n{body}").encode()

def wait_up():
    for _ in range(500):
        s.sendto(req("OPTIONS", 0, 1), ("127.0.0.1", port))
        try:
            s.settimeout(0.01); s.recv(65535); break
        except OSError:
            pass
    s.settimeout(3)

def call(n):
    """INVITE, 200 OK, ACK at once. Returns (to-tag, 200 OK arrival, gateway RTP address)."""
    s.sendto(req("INVITE", n, 1, body=SDP), ("127.0.0.1", port))
    while True:
        d = s.recv(65535).decode(errors="replace")
        if d.startswith("SIP/2.0 200") and f"mbench-{n}@" in d:
            t = time.perf_counter()
            tag = d.split("To:", 1)[1].split("tag=", 1)[1].split("\r\n", 1)[0]
            s.sendto(req("ACK", n, 1, tag), ("127.0.0.1", port))
            mport = int(d.split("m=audio ", 1)[1].split(" ", 1)[0])
            return tag, t, ("127.0.0.1", mport)

def hangup(n, tag):
    s.sendto(req("BYE", n, 2, tag), ("127.0.0.1", port))
    while True:
        d = s.recv(65535).decode(errors="replace")
        if d.startswith("SIP/2.0 200") and "BYE" in d.split("CSeq:", 1)[1].split("\r\n", 1)[0]:
            return

def drain_rtp():
    rtp.setblocking(False)
    try:
        while True:
            rtp.recv(2048)
    except OSError:
        pass
    rtp.setblocking(True)

# 1. 200 OK -> first prompt packet
gw = start({"sip_global": {"log_level": 1}, "sip": {"enabled": True, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
            "answer_mode": "accept", "settle_time": 0, "incoming_call_file": menu}})
wait_up()
lat, starts = [], []
rtp.settimeout(3)
for n in range(1, calls + 2):
    drain_rtp()
    tag, t_ok, _ = call(n)
    while True:
        p = rtp.recv(2048)
        if len(p) > 12 and p[1] & 0x7F == 0 and any(b not in (0xFF, 0x7F) for b in p[12:]):
            if n > 1:  # the first call decodes the file: audio not ready yet
                lat.append((time.perf_counter() - t_ok) * 1000); starts.append(t_ok)
            break
    hangup(n, tag)
report("200 OK -> first prompt packet (audio ready)", lat, starts)
gw.terminate(); gw.wait(5)

# 2. RFC 4733 digit -> webhook
hooks = []
class HA(http.server.BaseHTTPRequestHandler):
    # Keep-alive, as Home Assistant's aiohttp server: the gateway reuses its connection.
    # (An HTTP/1.0 server closes it after each answer, so every webhook would also pay for
    # a TCP connect that Home Assistant never asks for: ~0.4 ms more median, BENCHMARKS.md.)
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        t = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        hooks.append((t, json.loads(body or b"{}")))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        b = b'{"state": "RUNNING"}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HA)
threading.Thread(target=srv.serve_forever, daemon=True).start()
gw = start({"sip_global": {"log_level": 1}, "sip": {"enabled": True, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
            "answer_mode": "accept", "settle_time": 0}, "webhook": {"id": "bench"}},
           {"HA_BASE_URL": f"http://127.0.0.1:{srv.server_address[1]}/api", "HA_TOKEN": "bench-token"})
wait_up()
lat, starts = [], []
seq = 1000
for n in range(1, calls + 1):
    tag, _, media = call(n)
    deadline = time.time() + 3
    while not any(h[1].get("event") == "call_established" and h[1].get("call_id") == f"mbench-{n}@127.0.0.1" for h in hooks):
        if time.time() > deadline:
            sys.exit("no call_established webhook")
        time.sleep(0.001)
    ts = 160 * n * 100
    def ev(end, dur, marker=False):
        global seq
        seq += 1
        return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 101, seq & 0xFFFF, ts, 0x1234) + struct.pack(">BBH", 5, (0x80 if end else 0) | 10, dur)
    before = len(hooks)
    rtp.sendto(ev(False, 160, True), media)
    time.sleep(0.02)
    t0 = time.perf_counter()
    rtp.sendto(ev(True, 800), media)
    rtp.sendto(ev(True, 800), media)
    rtp.sendto(ev(True, 800), media)
    deadline = time.time() + 3
    while True:
        got = [h for h in hooks[before:] if h[1].get("event") == "dtmf_digit"]
        if got:
            lat.append((got[0][0] - t0) * 1000); starts.append(t0)
            break
        if time.time() > deadline:
            sys.exit("no dtmf_digit webhook")
        time.sleep(0.0002)
    hangup(n, tag)
report("RFC 4733 digit -> webhook received", lat, starts)
gw.terminate(); gw.wait(5)
srv.shutdown()
