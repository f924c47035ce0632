#!/usr/bin/env python3
"""INVITE -> 200 OK and command -> INVITE latency against the real gateway, on loopback.

  call_setup.py BINARY PORT CALLS

1. INVITE -> 200 OK: the gateway runs in accept mode (settle 0, no answer delay); a UDP
   client sends CALLS INVITEs one after another (each ACKed and ended with BYE) and times
   each INVITE's send to the arrival of its 200 OK (perf_counter, same process).
2. stdin command -> INVITE: a UDP socket plays the called phone; a `dial` command line is
   written to the gateway's stdin and the INVITE's arrival is timed (CALLS times, each call
   rejected with 486 right away).
3. MQTT command -> INVITE (only with MQTT_PORT, a running broker): the same, with the
   `dial` published to hasip/execute by a minimal MQTT 3.1.1 client in this process (QoS 0,
   one TCP connection), so the figure includes the broker's forwarding; MQTT_GAP_MS spaces
   the commands (back to back, a broker without TCP_NODELAY holds each publish until the
   gateway's delayed ACK, 40 ms on Linux). With MQTT_PORT set,
   the gateway runs in MQTT mode for all three measurements (ha-sip stalled SIP there).
Prints median / p90 / p99 / max for each."""
import json, os, socket, statistics, subprocess, sys, tempfile, time

binary, port, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mqtt_port = int(os.environ.get("MQTT_PORT", "0"))
mqtt_gap = float(os.environ.get("MQTT_GAP_MS", "0")) / 1000
opts = {"sip_global": {"log_level": 1, "global_options": "--call-rate-limit 0"}, "sip": {"enabled": True, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
        "answer_mode": "accept", "settle_time": 0}}
if mqtt_port:
    opts["mqtt"] = {"enabled": True, "broker_address": "127.0.0.1", "broker_port": mqtt_port}
cfg = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
json.dump(opts, cfg); cfg.close()
gw = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--config", cfg.name],
                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]

missed = []

def report(name, xs, target=None):
    """Prints the figures; a median above `target` ms is a miss (the script exits 1)."""
    print(f"{name} over {len(xs)} calls: median {statistics.median(xs):.3f} ms, p90 {pct(xs, .9):.3f} ms, "
          f"p99 {pct(xs, .99):.3f} ms, max {max(xs):.3f} ms")
    if target is not None and statistics.median(xs) > target:
        missed.append(f"{name}: median over {target} ms")

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(3)
lp = s.getsockname()[1]
SDP = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

def req(method, n, cseq, to_tag="", body=""):
    tt = f";tag={to_tag}" if to_tag else ""
    ct = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:hasip@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{method}{n}x{cseq};rport\r\n"
            f"From: <sip:bench@127.0.0.1:{lp}>;tag=f{n}\r\nTo: <sip:hasip@127.0.0.1:{port}>{tt}\r\nCall-ID: bench-{n}@127.0.0.1\r\n"
            f"CSeq: {cseq} {method}\r\nContact: <sip:bench@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\n{ct}Content-Length: {len(body)}\r\n\r\n{body}").encode()

# wait for the gateway
for _ in range(500):
    s.sendto(req("OPTIONS", 0, 1), ("127.0.0.1", port))
    try:
        s.settimeout(0.01); s.recv(65535); break
    except OSError:
        pass
s.settimeout(3)

lat = []
for n in range(1, calls + 1):
    t0 = time.perf_counter()
    s.sendto(req("INVITE", n, 1, body=SDP), ("127.0.0.1", port))
    tag = None
    while True:
        data = s.recv(65535).decode(errors="replace")
        if data.startswith("SIP/2.0 200") and f"bench-{n}@" in data:
            lat.append((time.perf_counter() - t0) * 1000)
            tag = data.split("To:", 1)[1].split("tag=", 1)[1].split("\r\n", 1)[0]
            break
    s.sendto(req("ACK", n, 1, tag), ("127.0.0.1", port))
    s.sendto(req("BYE", n, 2, tag), ("127.0.0.1", port))
    while True:
        data = s.recv(65535).decode(errors="replace")
        if data.startswith("SIP/2.0 200") and "BYE" in data.split("CSeq:", 1)[1].split("\r\n", 1)[0]:
            break
report("INVITE -> 200 OK" + (" (MQTT mode)" if mqtt_port else ""), lat, 0.5)

# command -> INVITE on the wire
phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); phone.bind(("127.0.0.1", 0)); phone.settimeout(3)
pp = phone.getsockname()[1]

def varint(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def mqtt_str(x):
    return len(x).to_bytes(2, "big") + x

def stdin_send(line):
    gw.stdin.write(line.encode()); gw.stdin.flush()

def timed_dials(name, send, first, gap=0.0):
    lat = []
    for n in range(first, first + calls):
        time.sleep(gap)
        dial_one(n, send, lat)
    report(name, lat, 1.0)

def dial_one(n, send, lat):
    number = f"sip:phone{n}@127.0.0.1:{pp}"
    line = json.dumps({"command": "dial", "number": number}) + "\n"
    t0 = time.perf_counter()
    send(line)
    while True:
        data, src = phone.recvfrom(65535)
        text = data.decode(errors="replace")
        if text.startswith("INVITE ") and f"phone{n}@" in text.split("\r\n", 1)[0]:
            lat.append((time.perf_counter() - t0) * 1000)
            break
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    hdr = lambda name: next(l for l in head if l.lower().startswith(name.lower() + ":"))
    busy = "\r\n".join(["SIP/2.0 486 Busy Here", hdr("Via"), hdr("From"), hdr("To") + ";tag=busy", hdr("Call-ID"), hdr("CSeq"), "Content-Length: 0", "", ""])
    phone.sendto(busy.encode(), src)
    while True:  # the ACK for the 486
        data, _ = phone.recvfrom(65535)
        if data.startswith(b"ACK "):
            break

mode = " (MQTT mode)" if mqtt_port else ""
timed_dials("stdin command -> INVITE on the wire" + mode, stdin_send, 1)
if mqtt_port:
    m = socket.create_connection(("127.0.0.1", mqtt_port)); m.settimeout(3)
    m.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = mqtt_str(b"MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + mqtt_str(b"bench-pub")
    m.sendall(b"\x10" + varint(len(body)) + body)
    assert m.recv(4)[:2] == b"\x20\x02", "no CONNACK"
    # The gateway subscribed long ago (at start-up, before the measurements above).
    def mqtt_send(line):
        payload = line.strip().encode()
        var = mqtt_str(b"hasip/execute") + payload
        m.sendall(b"\x30" + varint(len(var)) + var)
    label = os.environ.get("MQTT_LABEL", "")
    timed_dials(f"MQTT command -> INVITE on the wire{label}", mqtt_send, calls + 1, mqtt_gap)
gw.terminate(); gw.wait(5)
os.unlink(cfg.name)
if missed:
    print("  missed: " + "; ".join(missed), file=sys.stderr)
    sys.exit(1)
