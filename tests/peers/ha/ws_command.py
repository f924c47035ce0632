#!/usr/bin/env python3
"""Runs one websocket command against Home Assistant and prints its result as JSON.

Usage: ws_command.py WS_URL TOKEN TYPE [JSON_FIELDS]
  ws_command.py ws://127.0.0.1:8123/api/websocket TOKEN persistent_notification/get
Needs aiohttp, i.e. run it with the Home Assistant venv's python.
"""
import asyncio
import json
import sys

import aiohttp


async def main() -> None:
    url, token, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    fields = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, timeout=10) as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": token})
            ok = await ws.receive_json()
            if ok.get("type") != "auth_ok":
                raise SystemExit(f"auth failed: {ok}")
            await ws.send_json({"id": 1, "type": kind, **fields})
            while True:
                msg = await ws.receive_json()
                if msg.get("id") == 1 and msg.get("type") == "result":
                    if not msg.get("success"):
                        raise SystemExit(f"{kind}: {msg}")
                    print(json.dumps(msg.get("result")))
                    return


asyncio.run(main())
