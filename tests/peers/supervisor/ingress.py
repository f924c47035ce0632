#!/usr/bin/env python3
"""A stand-in for the road a browser's requests take to an add-on's ingress page: Home
Assistant Core's /api/hassio_ingress/<token>/ view and the Supervisor's ingress proxy
behind it, as one hop (neither runs outside Home Assistant OS / Supervised). Standard
library only.

  ingress.py --listen HOST:PORT --token TOKEN --addon HOST:PORT --source IP --log FILE

What it does, as those two do (homeassistant/components/hassio/ingress.py,
supervisor/api/ingress.py):
  /api/hassio_ingress/TOKEN/<path>?<query>
      forwarded to http://ADDON/<path>?<query> from the address SOURCE (the Supervisor's
      172.30.32.2 on the hassio network; the add-on serves that peer only), with the
      browser's headers less the hop-by-hop ones and Content-Length, plus
      X-Ingress-Path: /api/hassio_ingress/TOKEN, X-Hass-Source: core.ingress and
      X-Forwarded-For, -Host and -Proto; the request body is read whole first.
      The answer: buffered when it has a Content-Length under 4,194,000 bytes (or is empty
      by its status), else streamed chunk by chunk as it comes (server-sent events),
      with X-Accel-Buffering: no.
  another token: 503 ("Ingress for ... not available"); another path: 404.
Not done: the ingress session cookie (the frontend makes it; nothing here checks users),
websockets (501; the page uses server-sent events).

Each request is appended to --log as one JSON line: {"method", "path", "status", "streamed"}.
"""
import argparse, http.client, http.server, json, sys, threading

p = argparse.ArgumentParser()
p.add_argument("--listen", required=True)
p.add_argument("--token", required=True)
p.add_argument("--addon", required=True)
p.add_argument("--source", required=True)
p.add_argument("--log", required=True)
args = p.parse_args()
listen_host, listen_port = args.listen.rsplit(":", 1)
addon_host, addon_port = args.addon.rsplit(":", 1)
PREFIX = f"/api/hassio_ingress/{args.token}"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
              "transfer-encoding", "content-length", "content-encoding", "host"}
BUFFERED_UNDER = 4_194_000
log_lock = threading.Lock()


def log(method, path, status, streamed):
    with log_lock, open(args.log, "a") as f:
        f.write(json.dumps({"method": method, "path": path, "status": status,
                            "streamed": streamed}) + "\n")


class Ingress(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log(self.command, self.path, status, False)

    def forward(self):
        if not self.path.startswith("/api/hassio_ingress/"):
            return self.answer(404, "not found\n")
        if not (self.path.startswith(PREFIX + "/") or self.path.startswith(PREFIX + "?")):
            return self.answer(503, "Ingress not available\n")
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.answer(501, "websockets are not proxied by this stand-in\n")
        rest = self.path[len(PREFIX):]
        if not rest.startswith("/"):
            rest = "/" + rest
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Ingress-Path"] = PREFIX
        headers["X-Hass-Source"] = "core.ingress"
        forwarded = self.headers.get("X-Forwarded-For")
        client = self.client_address[0]
        headers["X-Forwarded-For"] = f"{forwarded}, {client}" if forwarded else client
        headers.setdefault("X-Forwarded-Host", self.headers.get("Host", ""))
        headers.setdefault("X-Forwarded-Proto", "http")
        upstream = http.client.HTTPConnection(addon_host, int(addon_port),
                                              source_address=(args.source, 0), timeout=60)
        try:
            upstream.request(self.command, rest, body=body if body or self.command == "POST" else None,
                             headers=headers)
            r = upstream.getresponse()
        except OSError as e:
            upstream.close()
            return self.answer(502, f"the add-on does not answer: {e}\n")
        out = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP_BY_HOP]
        length = r.getheader("Content-Length")
        empty = self.command == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200
        try:
            if empty or (length is not None and int(length) < BUFFERED_UNDER):
                data = r.read()
                self.send_response(r.status)
                for k, v in out:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                log(self.command, self.path, r.status, False)
                return
            self.send_response(r.status)
            for k, v in out:
                self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            log(self.command, self.path, r.status, True)
            while True:
                chunk = r.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = forward

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer.daemon_threads = True
server = http.server.ThreadingHTTPServer((listen_host, int(listen_port)), Ingress)
print(f"ingress stand-in on {args.listen} for {args.addon}", file=sys.stderr, flush=True)
server.serve_forever()
