#!/usr/bin/env python3
"""Talk's mouth-to-ear delay, both ways, on loopback (issue 19; goal: under 150 ms each way).

  talk_latency.py BINARY PORT ROUNDS BROWSER_DIR   (BROWSER_DIR: talk_latency.mjs beside
  playwright-core's node_modules)

The door is this script: a SIP phone on UDP that calls the gateway (listen mode) and sends
PCMU every 20 ms, silence or a 600 Hz tone. The browser is Debian's chromium running the
dashboard (bench/talk_latency.mjs, playwright-core from BROWSER_DIR): it clicks Talk, which
answers the call and connects over WebRTC; its microphone is an oscillator.

  door -> browser: from the first tone packet the door sends to the moment the tone's
                   energy shows in the page's WebAudio graph (256-sample windows);
  browser -> door: from the moment the page switches its microphone's tone on to the first
                   loud packet the door receives from the gateway.

Both ends read the same clock (epoch milliseconds). Also the gateway's CPU while one call
talks. Exits non-zero when a median is over 150 ms."""
import json, math, os, socket, statistics, struct, subprocess, sys, tempfile, threading, time
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

binary, port, rounds, browser_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
web = port + 1000
token = "talk-latency-token-0123"
work = tempfile.mkdtemp(prefix="hasip-talk-bench-")
cfg = os.path.join(work, "options.json")
with open(cfg, "w") as f:
    json.dump({"sip_global": {"log_level": 1}, "sip": {"enabled": True, "registrar_uri": "",
               "id_uri": "sip:hasip@127.0.0.1", "answer_mode": "listen", "settle_time": 0}}, f)
env = dict(os.environ, WEB_LISTEN=f"127.0.0.1:{web}", WEB_TOKEN=token)
gw = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--config", cfg],
                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
procs = [gw]
import atexit
atexit.register(lambda: [p.kill() for p in procs if p.poll() is None])

sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sip.bind(("127.0.0.1", 0)); lp = sip.getsockname()[1]
rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rtp.bind(("127.0.0.1", 0)); rp = rtp.getsockname()[1]
SDP = ("v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       f"m=audio {rp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

def req(method, cseq, to_tag="", body=""):
    tt = f";tag={to_tag}" if to_tag else ""
    ct = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:hasip@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{method}{cseq}t;rport\r\n"
            f"From: <sip:door@127.0.0.1:{lp}>;tag=door\r\nTo: <sip:hasip@127.0.0.1:{port}>{tt}\r\nCall-ID: talk-bench@127.0.0.1\r\n"
            f"CSeq: {cseq} {method}\r\nContact: <sip:door@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\n{ct}Content-Length: {len(body)}\r\n\r\n{body}").encode()

for _ in range(500):
    sip.sendto(req("OPTIONS", 1), ("127.0.0.1", port))
    try:
        sip.settimeout(0.01); sip.recv(65535); break
    except OSError:
        pass
sip.settimeout(20)

# The browser: playwright-core driving chromium.
# (ES modules resolve their imports next to the script: talk_latency.sh copies it there.)
node = subprocess.Popen(["node", os.path.join(browser_dir, "talk_latency.mjs"),
                         f"http://127.0.0.1:{web}/?token={token}"], cwd=browser_dir,
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
procs.append(node)
def expect(word):
    line = node.stdout.readline().strip()
    if not line.startswith(word):
        sys.exit(f"the browser said {line!r}, not {word}")
    return line

# The door calls; Talk answers.
sip.sendto(req("INVITE", 1, body=SDP), ("127.0.0.1", port))
while True:
    d = sip.recv(65535).decode(errors="replace")
    if d.startswith("SIP/2.0 200"):
        tag = d.split("To:", 1)[1].split("tag=", 1)[1].split("\r\n", 1)[0]
        sip.sendto(req("ACK", 1, tag), ("127.0.0.1", port))
        media = ("127.0.0.1", int(d.split("m=audio ", 1)[1].split(" ", 1)[0]))
        break

# The door's RTP: 20 ms PCMU packets, silence or the tone.
tone_on = threading.Event()
first_tone_sent = []
stop = threading.Event()
def sender():
    seq, ts, t0 = 0, 0, time.perf_counter()
    silence = b"\xff" * 160
    while not stop.is_set():
        if tone_on.is_set():
            pcm = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 600 * (ts + i) / 8000))) for i in range(160))
            payload = audioop.lin2ulaw(pcm, 2)
            if not first_tone_sent:
                first_tone_sent.append(time.time() * 1000)
        else:
            payload = silence
        rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, 0xD00D) + payload, media)
        seq += 1; ts += 160
        time.sleep(max(0, t0 + seq * 0.02 - time.perf_counter()))
threading.Thread(target=sender, daemon=True).start()

# The door's ears: the first loud packet from the gateway once armed.
loud_at = []
listening = threading.Event()
def receiver():
    rtp.settimeout(0.5)
    while not stop.is_set():
        try:
            p = rtp.recv(2048)
        except OSError:
            continue
        if listening.is_set() and len(p) > 12 and p[1] & 0x7F == 0:
            if audioop.rms(audioop.ulaw2lin(p[12:], 2), 2) > 1500:
                loud_at.append(time.time() * 1000)
                listening.clear()
threading.Thread(target=receiver, daemon=True).start()

expect("CONNECTED")
time.sleep(1)  # the jitter buffers settle
def ticks():
    f = open(f"/proc/{gw.pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
c0, w0 = ticks(), time.time()
to_browser, to_door = [], []
for _ in range(rounds):
    # door -> browser
    node.stdin.write("ARM\n"); expect("ARMED")
    first_tone_sent.clear(); tone_on.set()
    heard = float(expect("HEARD").split()[1])
    to_browser.append(heard - first_tone_sent[0])
    tone_on.clear(); time.sleep(0.3)
    # browser -> door
    loud_at.clear(); listening.set()
    t0 = float((node.stdin.write("TONE\n"), expect("TONE"))[1].split()[1])
    deadline = time.time() + 5
    while not loud_at and time.time() < deadline:
        time.sleep(0.001)
    if not loud_at:
        sys.exit("the door never heard the browser")
    to_door.append(loud_at[0] - t0)
    node.stdin.write("QUIET\n"); expect("QUIET"); listening.clear(); time.sleep(0.3)
cpu = (ticks() - c0) / os.sysconf("SC_CLK_TCK") / (time.time() - w0) * 100
node.stdin.write("BYE\n"); stop.set()

def show(name, xs):
    xs = sorted(xs)
    print(f"{name} over {len(xs)} rounds: median {statistics.median(xs):.1f} ms, "
          f"p90 {xs[min(len(xs) - 1, int(len(xs) * 0.9))]:.1f} ms, max {xs[-1]:.1f} ms")
show("door -> browser (first tone packet sent by the door -> tone energy in the page's WebAudio graph)", to_browser)
show("browser -> door (the page's microphone tone switched on -> first loud packet at the door)", to_door)
print(f"gateway CPU while one call talks: {cpu:.1f} % of one core")
missed = [n for n, xs in (("door -> browser", to_browser), ("browser -> door", to_door)) if statistics.median(xs) > 150]
if missed:
    sys.exit("missed 150 ms: " + ", ".join(missed))
