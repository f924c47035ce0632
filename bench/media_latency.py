#!/usr/bin/env python3
"""Media latencies against the real gateway, on loopback.

  media_latency.py BINARY PORT CALLS

1. 200 OK -> first prompt packet: the gateway answers in accept mode (settle 0) with an
   incoming-call menu that plays a WAV file (decoded once, then from memory: "audio
   ready"); a UDP client calls, ACKs the 200 OK at once and times the 200 OK's arrival to
   the first RTP packet that is not silence.
2. Key press -> webhook: the gateway runs stand-alone against a small HTTP server in this
   process playing Home Assistant (HA_BASE_URL, HTTP/1.1 keep-alive). Once a call is
   established the client presses a key as a phone does, a 140 ms RFC 4733 event (a packet
   every 20 ms, three end packets), and times its first packet to the webhook POST
   carrying the digit; then an event seen only as end packets (end packet -> webhook); in
   further calls, a 120 ms in-band tone (first tone packet -> webhook).
Exits non-zero when a target is missed.
Prints median / p90 / p99 / max for each. With HASIP_STALLS=FILE (bench/media_latency.sh
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

import atexit
gateways = []
# A failed run (sys.exit) must not leave a gateway holding its port.
atexit.register(lambda: [g.kill() for g in gateways if g.poll() is None])

def start(opts, env=None):
    cfg = os.path.join(work, f"options-{len(os.listdir(work))}.json")
    with open(cfg, "w") as f:
        json.dump(opts, f)
    e = dict(os.environ); e.update(env or {})
    g = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--config", cfg],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    gateways.append(g)
    return g

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
gw = start({"sip_global": {"log_level": 1, "global_options": "--call-rate-limit 0"}, "sip": {"enabled": True, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
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
prompt_lat = lat
gw.terminate(); gw.wait(5)

# 2. RFC 4733 digit -> webhook
hooks, bus = [], []
class HA(http.server.BaseHTTPRequestHandler):
    # Keep-alive, as Home Assistant's aiohttp server: the gateway reuses its connection.
    # (An HTTP/1.0 server closes it after each answer, so every webhook would also pay for
    # a TCP connect that Home Assistant never asks for: ~0.4 ms more median, BENCHMARKS.md.)
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        t = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # Webhooks only: the same events also arrive on /api/events/hasip_event (the
        # default webhook.delivery is both), right behind each webhook.
        if "/webhook/" in self.path:
            hooks.append((t, json.loads(body or b"{}")))
        else:
            bus.append((t, json.loads(body or b"{}")))
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
gw = start({"sip_global": {"log_level": 1, "global_options": "--call-rate-limit 0"}, "sip": {"enabled": True, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
            "answer_mode": "accept", "settle_time": 0}, "webhook": {"id": "bench", "spool_dir": os.environ.get("SPOOL_DIR", "")}},
           {"HA_BASE_URL": f"http://127.0.0.1:{srv.server_address[1]}/api", "HA_TOKEN": "bench-token"})
wait_up()
seq = 1000

def ev_packet(ts, code, end, dur, marker=False):
    global seq
    seq += 1
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 101, seq & 0xFFFF, ts, 0x1234) + struct.pack(">BBH", code, (0x80 if end else 0) | 10, dur)

def wait_digit(before):
    deadline = time.time() + 3
    while True:
        got = [h for h in hooks[before:] if h[1].get("event") == "dtmf_digit"]
        if got:
            return got
        if time.time() > deadline:
            sys.exit("no dtmf_digit webhook")
        time.sleep(0.0002)

def pace(at):
    """Waits until perf_counter() reaches `at`, sleeping: a busy loop would hold Python's
    GIL, and the HTTP server's thread, which timestamps the webhooks, would wait for the
    interpreter's 5 ms switch interval before it could read one."""
    left = at - time.perf_counter()
    if left > 0:
        time.sleep(left)

def established(n):
    # Both deliveries of call_established done (webhook, then the event bus): a user
    # presses a key seconds after pick-up, not while the call's last event is in flight.
    deadline = time.time() + 3
    while not all(any(h[1].get("event") == "call_established" and h[1].get("call_id") == f"mbench-{n}@127.0.0.1" for h in got)
                  for got in (hooks, bus)):
        if time.time() > deadline:
            sys.exit("no call_established webhook")
        time.sleep(0.001)

# 2a. A 140 ms key press as phones send it: a packet every 20 ms from its first (marker)
# to its end (three end packets at 140 ms). The clock starts when its first packet is
# sent, as the user presses the key, and stops when the webhook reaches the server.
# 2b. An event seen only as its end packets (its first packets lost): end packet -> webhook.
first, first_starts, ends, end_starts = [], [], [], []
for n in range(1, calls + 1):
    tag, _, media = call(n)
    established(n)
    ts = 160 * n * 100
    before = len(hooks)
    t0 = time.perf_counter()
    rtp.sendto(ev_packet(ts, 5, False, 160, True), media)
    for k in range(2, 8):
        pace(t0 + 0.02 * (k - 1))
        rtp.sendto(ev_packet(ts, 5, False, 160 * k), media)
    for _ in range(3):
        rtp.sendto(ev_packet(ts, 5, True, 1120), media)
    got = wait_digit(before)
    first.append((got[0][0] - t0) * 1000); first_starts.append(t0)
    time.sleep(0.01)
    if len([h for h in hooks[before:] if h[1].get("event") == "dtmf_digit"]) != 1:
        sys.exit(f"one press, two digits: {[h[1].get('digit') for h in hooks[before:] if h[1].get('event') == 'dtmf_digit']}")
    before = len(hooks)
    t1 = time.perf_counter()
    for _ in range(3):
        rtp.sendto(ev_packet(ts + 8000, 7, True, 800), media)
    got = wait_digit(before)
    ends.append((got[0][0] - t1) * 1000); end_starts.append(t1)
    hangup(n, tag)
report("RFC 4733 key press (140 ms): first packet sent -> webhook received", first, first_starts)
report("RFC 4733 event seen only as end packets: end packet sent -> webhook received", ends, end_starts)

# 2c. In-band: the tone of 5 in 20 ms PCMU packets; the clock starts with the first tone
# packet sent and stops when the webhook reaches the server.
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # Python 3.11/3.12: PCM to G.711
def tone_packets(ms_on, rate=8000):
    out = []
    for k in range(ms_on // 20):
        pcm = b"".join(struct.pack("<h", int(5000 * (math.sin(2 * math.pi * 770 * i / rate) + math.sin(2 * math.pi * 1336 * i / rate))))
                       for i in range(160 * k, 160 * (k + 1)))
        out.append(audioop.lin2ulaw(pcm, 2))
    return out
tone = tone_packets(120)
inband, inband_starts = [], []
for n in range(calls + 1, calls + 1 + max(10, calls // 4)):
    tag, _, media = call(n)
    established(n)
    before = len(hooks)
    t0 = time.perf_counter()
    for k, payload in enumerate(tone):
        pace(t0 + 0.02 * k)
        seq += 1
        rtp.sendto(struct.pack(">BBHII", 0x80, 0, seq & 0xFFFF, 160 * k, 0x4321) + payload, media)
    got = wait_digit(before)
    inband.append((got[0][0] - t0) * 1000); inband_starts.append(t0)
    hangup(n, tag)
report("In-band tone (120 ms): first tone packet sent -> webhook received", inband, inband_starts)
gw.terminate(); gw.wait(5)
srv.shutdown()

# Targets (BENCHMARKS.md): a key press reaches Home Assistant within 2 ms median, 5 ms p99
# of its first packet; an in-band tone within 60 ms median of its start.
missed = []
if statistics.median(prompt_lat) > 5.0:
    missed.append("200 OK -> first prompt packet (5 ms)")
if statistics.median(first) > 2.0 or pct(first, .99) > 5.0:
    missed.append("key press first packet -> webhook (2 ms median, 5 ms p99)")
if statistics.median(inband) > 60.0:
    missed.append("in-band tone start -> webhook (60 ms median)")
if missed:
    sys.exit("missed: " + "; ".join(missed))
