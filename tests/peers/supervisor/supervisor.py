#!/usr/bin/env python3
"""A stand-in for the parts of the Home Assistant Supervisor an add-on talks to (the real
one cannot run outside Home Assistant OS / Supervised). Standard library only.

  supervisor.py --listen HOST:PORT --token ADDON_TOKEN --ha-port N --ha-token TOKEN
                [--mqtt HOST:PORT[:USER:PASSWORD]] [--core-port N] [--drop-proxied-webhooks]
                --log FILE

What it serves, as the Supervisor does (supervisor/api/proxy.py, api/services.py):
  /core/api/<path>   forwarded to Home Assistant's /api/<path> with the add-on's token
                     swapped for Home Assistant's (the Supervisor holds its own token);
                     502 while Home Assistant does not answer
  /core/info         {"result": "ok", "data": {"port", "ssl", ...}} (Core's own port,
                     --core-port, default --ha-port)
  /services/mqtt     the broker as the Mosquitto add-on announces it, or
                     {"result": "error", "message": "Service not enabled"}
Every request needs "Authorization: Bearer ADDON_TOKEN" (else 401).

--drop-proxied-webhooks answers POST /core/api/webhook/<id> with 200 and forwards nothing:
what Home Assistant 2026.5 and later does with a proxied webhook whose trigger is
local_only (it does not see the request as local; ha-sip #197, core #172654). The 2024.3
test peer cannot show that itself.

Each request is appended to --log as one JSON line: {"method", "path", "status"}.
"""
import argparse, http.server, json, sys, threading, urllib.error, urllib.request

p = argparse.ArgumentParser()
p.add_argument("--listen", required=True)
p.add_argument("--token", required=True)
p.add_argument("--ha-port", type=int, required=True)
p.add_argument("--ha-token", required=True)
p.add_argument("--core-port", type=int)
p.add_argument("--mqtt")
p.add_argument("--drop-proxied-webhooks", action="store_true")
p.add_argument("--log", required=True)
args = p.parse_args()
lock = threading.Lock()


def log(method, path, status):
    with lock, open(args.log, "a") as f:
        f.write(json.dumps({"method": method, "path": path, "status": status}) + "\n")


class Supervisor(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log(self.command, self.path, status)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {args.token}":
            return self.reply(401, {"result": "error", "message": "Unauthorized"})
        path = self.path
        if path == "/core/info":
            port = args.core_port or args.ha_port
            return self.reply(200, {"result": "ok", "data": {
                "version": "2024.3.3", "version_latest": "2024.3.3", "update_available": False,
                "machine": "qemux86-64", "ip_address": "172.30.32.1", "arch": "amd64",
                "image": "ghcr.io/home-assistant/qemux86-64-homeassistant", "boot": True,
                "port": port, "ssl": False, "watchdog": True, "audio_input": None,
                "audio_output": None}})
        if path == "/services/mqtt":
            if not args.mqtt:
                return self.reply(400, {"result": "error", "message": "Service not enabled"})
            parts = args.mqtt.split(":")
            data = {"addon": "core_mosquitto", "host": parts[0], "port": int(parts[1]),
                    "ssl": False, "protocol": "3.1.1"}
            if len(parts) >= 4:
                data.update(username=parts[2], password=parts[3])
            return self.reply(200, {"result": "ok", "data": data})
        if path.startswith("/core/api/") or path == "/core/api":
            if args.drop_proxied_webhooks and path.startswith("/core/api/webhook/"):
                return self.reply(200, b"", "text/plain")
            url = f"http://127.0.0.1:{args.ha_port}/api{path[len('/core/api'):]}"
            req = urllib.request.Request(url, data=body, method=self.command)
            req.add_header("Authorization", f"Bearer {args.ha_token}")
            if self.headers.get("Content-Type"):
                req.add_header("Content-Type", self.headers["Content-Type"])
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return self.reply(r.status, r.read(), r.headers.get("Content-Type", "application/octet-stream"))
            except urllib.error.HTTPError as e:
                return self.reply(e.code, e.read(), e.headers.get("Content-Type", "text/plain"))
            except OSError:
                return self.reply(502, b"Bad Gateway", "text/plain")
        return self.reply(404, {"result": "error", "message": f"{path} is not served by this stand-in"})

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, *a):
        pass


host, port = args.listen.rsplit(":", 1)
http.server.ThreadingHTTPServer.daemon_threads = True
srv = http.server.ThreadingHTTPServer((host, int(port)), Supervisor)
print(f"supervisor stand-in on {args.listen}", flush=True)
srv.serve_forever()
