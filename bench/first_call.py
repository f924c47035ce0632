#!/usr/bin/env python3
"""INVITE -> 200 OK for the first call after the gateway has been idle, against the real
gateway on loopback: the gateway gives back its code's resident pages 3 s after start and
10 s after the last call (crates/hasip-trim), so the first call after a quiet spell runs
its code from the page cache. Both ends in this process: the INVITE's send and the 200 OK's
arrival (perf_counter).

  first_call.py BINARY PORT ROUNDS IDLE_SECONDS

Each round waits IDLE_SECONDS, then times one call and five more right after it (each
ACKed and ended with BYE). Exits non-zero when the first calls' median is over 2 ms."""
import json, os, socket, statistics, subprocess, sys, tempfile, time
binary, port, rounds, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
opts = {"sip_global": {"log_level": 1}, "sip": {"enabled": True, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1", "answer_mode": "accept", "settle_time": 0}}
cfg = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False); json.dump(opts, cfg); cfg.close()
gw = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--config", cfg.name], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); lp = s.getsockname()[1]
SDP = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
def req(method, n, cseq, to_tag="", body=""):
    tt = f";tag={to_tag}" if to_tag else ""
    ct = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:hasip@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK{method}{n}x{cseq};rport\r\n"
            f"From: <sip:bench@127.0.0.1:{lp}>;tag=f{n}\r\nTo: <sip:hasip@127.0.0.1:{port}>{tt}\r\nCall-ID: cold-{n}@127.0.0.1\r\n"
            f"CSeq: {cseq} {method}\r\nContact: <sip:bench@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\n{ct}Content-Length: {len(body)}\r\n\r\n{body}").encode()
for _ in range(500):
    s.sendto(req("OPTIONS", 0, 1), ("127.0.0.1", port))
    try:
        s.settimeout(0.01); s.recv(65535); break
    except OSError: pass
s.settimeout(3)
def call(n):
    t0 = time.perf_counter(); s.sendto(req("INVITE", n, 1, body=SDP), ("127.0.0.1", port))
    while True:
        d = s.recv(65535).decode(errors="replace")
        if d.startswith("SIP/2.0 200") and f"cold-{n}@" in d:
            ms = (time.perf_counter() - t0) * 1000
            tag = d.split("To:", 1)[1].split("tag=", 1)[1].split("\r\n", 1)[0]; break
    s.sendto(req("ACK", n, 1, tag), ("127.0.0.1", port)); s.sendto(req("BYE", n, 2, tag), ("127.0.0.1", port))
    while True:
        d = s.recv(65535).decode(errors="replace")
        if d.startswith("SIP/2.0 200") and "BYE" in d: break
    return ms
colds, warms = [], []
time.sleep(gap)
for r in range(rounds):
    cold = call(1000 + r * 10); warm = [call(1000 + r * 10 + i) for i in range(1, 6)]
    colds.append(cold); warms.extend(warm)
    print(f"after {gap:.0f} s idle: first INVITE->200 {cold:.3f} ms, next five {' '.join(f'{w:.3f}' for w in warm)}", flush=True)
    time.sleep(gap)
gw.kill()
os.unlink(cfg.name)
print(f"first INVITE -> 200 OK after {gap:.0f} s idle over {len(colds)} rounds: median {statistics.median(colds):.3f} ms, "
      f"max {max(colds):.3f} ms; the calls right after: median {statistics.median(warms):.3f} ms")
if statistics.median(colds) > 2.0:
    print("missed: first call after idle median over 2 ms", file=sys.stderr)
    sys.exit(1)
