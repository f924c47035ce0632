#!/usr/bin/env python3
"""Start -> answers OPTIONS: spawn the gateway, send OPTIONS over UDP every 0.5 ms until the
first answer, report the time from spawn to that answer. Repeats N times, prints median/p90."""
import socket, statistics, subprocess, sys, time, os

binary, port, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 20

def options(lport, n):
    return (f"OPTIONS sip:hasip@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-st{n};rport\r\n"
            f"From: <sip:bench@127.0.0.1>;tag={n}\r\nTo: <sip:hasip@127.0.0.1>\r\n"
            f"Call-ID: st{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()

times = []
for i in range(runs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0)); s.setblocking(False)
    lport = s.getsockname()[1]
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--log-level", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = None
    deadline = t0 + 5
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        try:
            s.sendto(options(lport, n), ("127.0.0.1", port))
        except OSError:
            pass
        end = time.perf_counter() + 0.0005
        while time.perf_counter() < end:
            try:
                data = s.recv(65535)
                if data.startswith(b"SIP/2.0 200"):
                    got = time.perf_counter()
                    break
            except BlockingIOError:
                pass
        if got:
            break
    p.terminate(); p.wait(5); s.close()
    if got is None:
        print(f"run {i}: no answer within 5 s", file=sys.stderr); sys.exit(1)
    times.append((got - t0) * 1000)

times.sort()
print(f"start -> OPTIONS answered over {runs} runs: median {statistics.median(times):.2f} ms, "
      f"p90 {times[int(len(times) * 0.9) - 1]:.2f} ms, min {times[0]:.2f} ms, max {times[-1]:.2f} ms")
if statistics.median(times) > 10.0:
    print("  missed: start -> OPTIONS median over 10 ms", file=sys.stderr)
    sys.exit(1)
