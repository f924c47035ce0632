"""Connections a peer can open (issue 21): 5,000 silent TCP connections from 400 addresses
(127.0.1.x ...), 200 half-sent requests, then OPTIONS over UDP and a new TCP connection.
Prints the gateway's descriptors and RSS before, at the peak, after the first-message
deadline and once the gateway gave its memory back; exits non-zero when a bound is missed.

Usage: python3 bench/connections.py PID PORT
"""

import os
import socket
import sys
import time

PID, PORT = int(sys.argv[1]), int(sys.argv[2])
GW = ("127.0.0.1", PORT)
CAP = 500  # crates/hasip/src/shell.rs MAX_ACCEPTED
RSS_PER_CONN_KIB = 12  # the bound per connection held
FIRST_MESSAGE = 10.0  # crates/hasip/src/tcp.rs


def rss_kib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds():
    return len(os.listdir(f"/proc/{PID}/fd"))


def src(i):
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def connect(source):
    s = socket.socket()
    s.settimeout(2)
    s.bind((source, 0))
    s.connect(GW)
    s.setblocking(False)
    return s


def closed(s):
    try:
        return s.recv(64) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def options(transport):
    msg = ("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:1;branch=z9hG4bK%s;rport\r\n"
           "From: <sip:b@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c%s\r\nCSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n") % (transport, time.time_ns(), time.time_ns())
    if transport == "UDP":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(msg.encode(), GW)
        return s.recv(9999).startswith(b"SIP/2.0 200")
    s = socket.create_connection(GW, timeout=2)
    s.sendall(msg.encode())
    return s.recv(9999).startswith(b"SIP/2.0 200")


rss0, fds0 = rss_kib(), fds()
held, made, t0 = [], 0, time.monotonic()
for i in range(200):
    s = connect(src(1000 + i % 10))
    s.send(b"INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKh\r\nContent-Len")
    held.append(s)
    made += 1
for i in range(5000):
    try:
        held.append(connect(src(i % 400)))
        made += 1
    except OSError:
        pass
    if i % 100 == 99:
        held = [s for s in held if not closed(s) or s.close()]
time.sleep(1)
held = [s for s in held if not closed(s) or s.close()]
rss1, fds1 = rss_kib(), fds()
during = options("UDP") and options("TCP")
deadline = time.monotonic() + FIRST_MESSAGE + 5
while time.monotonic() < deadline:
    held = [s for s in held if not closed(s) or s.close()]
    if not held and fds() <= fds0 + 2:
        break
    time.sleep(0.2)
rss2, fds2 = rss_kib(), fds()
after = options("UDP") and options("TCP")
# Once the spell has been calm for ten seconds the gateway gives its memory back
# (crates/hasip/src/shell/give_back.rs): wait for RSS to come back within 2 MiB of the start.
calm_from = time.monotonic()
while time.monotonic() < calm_from + 30 and rss_kib() > rss0 + 2048:
    time.sleep(0.5)
rss3, given_after = rss_kib(), time.monotonic() - calm_from
print(f"connections: {made} attempts in {time.monotonic() - t0:.1f}s; descriptors {fds0} -> {fds1} "
      f"(peak) -> {fds2} (after {FIRST_MESSAGE:.0f}s); RSS {rss0/1024:.2f} -> {rss1/1024:.2f} -> "
      f"{rss2/1024:.2f} MiB -> {rss3/1024:.2f} MiB {given_after:.0f} s later; "
      f"OPTIONS answered during {during}, after {after}; {len(held)} still open")
ok = (fds1 <= fds0 + CAP + 2 and rss1 <= rss0 + CAP * RSS_PER_CONN_KIB and fds2 <= fds0 + 2
      and during and after and not held and rss3 <= rss0 + 2048)
if not ok:
    print(f"  missed: <= {CAP} connections held, <= {CAP * RSS_PER_CONN_KIB // 1024} MiB for them, "
          "all closed after the deadline, OPTIONS answered, RSS back within 2 MiB",
          file=sys.stderr)
sys.exit(0 if ok else 1)
