#!/usr/bin/env python3
"""Memory per idle client, WebSocket against TCP, in one run.

Starts banterd (target/release/banterd) with benches/bench.toml and a
WebSocket listener, registers N clients over TCP, then N over WebSocket
(text.ircv3.net), and prints the server's RSS growth per client for each.
Needs the `websockets` package (the irctest venv has it):

    ~/.cache/banter-irctest-venv/bin/python scripts/ws-memory.py [N]
"""
import asyncio
import os
import re
import subprocess
import sys
import tempfile

import websockets

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


async def tcp_client(port, i, held):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"NICK t{i}\r\nUSER t 0 * :t\r\n".encode())
    while b" 001 " not in await r.readline():
        pass
    held.append((r, w))


async def ws_client(port, i, held):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/", subprotocols=["text.ircv3.net"])
    await ws.send(f"NICK w{i}")
    await ws.send("USER w 0 * :w")
    while " 001 " not in await ws.recv():
        pass
    held.append(ws)


async def batch(make, port, held):
    for start in range(0, N, 100):
        await asyncio.gather(*(make(port, i, held) for i in range(start, min(N, start + 100))))


async def main():
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "bench.toml")
        with open(os.path.join(REPO, "benches/bench.toml")) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text + '\n[[websocket]]\nlisten = "127.0.0.1:0"\n')
        proc = subprocess.Popen(
            [os.path.join(REPO, "target/release/banterd"), "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", d],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "warn,banter::server=info"})
        ports = {}
        while len(ports) < 2:
            line = proc.stderr.readline()
            m = re.search(r"listening (on|for WebSocket on) 127\.0\.0\.1:(\d+)", line)
            if m:
                ports[m.group(1)] = int(m.group(2))
        try:
            held = []
            await asyncio.sleep(0.5)
            base = rss_kib(proc.pid)
            await batch(tcp_client, ports["on"], held)
            await asyncio.sleep(2)
            tcp = rss_kib(proc.pid)
            await batch(ws_client, ports["for WebSocket on"], held)
            await asyncio.sleep(2)
            ws = rss_kib(proc.pid)
            per_tcp = (tcp - base) / N
            per_ws = (ws - tcp) / N
            print(f"{N} idle clients each: TCP {per_tcp:.2f} KiB/client, WebSocket {per_ws:.2f} KiB/client, "
                  f"ratio {per_ws / per_tcp:.1f}")
        finally:
            proc.kill()


asyncio.run(main())
