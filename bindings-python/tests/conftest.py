"""Fixtures: the real `intentrail demo` rail (one per session), its env file, a Rail client,
the demo payments API's request log, and a scriptable HTTP proxy in front of the rail."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]


def _binary() -> Path:
    b = Path(os.environ.get("INTENTRAIL_BIN") or REPO / "target" / "debug" / "intentrail")
    if not b.is_file():
        pytest.fail(f"rail binary {b} not found: run `cargo build -p intentrail-server --bin intentrail` "
                    "or set INTENTRAIL_BIN (bindings-python/run-tests.sh does it)")
    return b


class Demo:
    """Connection details of the running demo rail (never printed: it holds keys)."""

    def __init__(self, env: Dict[str, Any], env_file: Path) -> None:
        self.env_file = env_file
        self.rail_url: str = env["rail_url"]
        self.api_key: str = env["api_key"]
        self.agent_id: str = env["agent_id"]
        self.downstream_url: str = env["downstream_url"]

    def __repr__(self) -> str:  # keep keys out of pytest's output
        return f"Demo(rail_url={self.rail_url!r}, agent_id={self.agent_id!r})"

    def requests(self) -> List[Dict[str, Any]]:
        """What the demo payments API has received so far."""
        with urllib.request.urlopen(self.downstream_url + "/__requests", timeout=10) as r:
            return json.load(r)["requests"]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("rail")
    env_file = tmp / "demo.json"
    log = open(tmp / "rail.log", "wb")
    proc = subprocess.Popen(
        [str(_binary()), "demo", "--port", "0", "--no-tour", "--env-file", str(env_file),
         "--dir", str(tmp / "work")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        env: Optional[Dict[str, Any]] = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                env = json.loads(env_file.read_text())
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if env is None:
            proc.kill()
            text = (tmp / "rail.log").read_text(errors="replace")
            shown = "\n".join(l for l in text.splitlines() if "key" not in l.lower())
            pytest.fail(f"the demo rail did not start (exit {proc.poll()}):\n{shown[-3000:]}")
        d = Demo(env, env_file)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(d.rail_url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@pytest.fixture(scope="session")
def rail(demo: Demo):
    from intentrail import Rail

    return Rail(demo.rail_url, demo.api_key, demo.agent_id, timeout=30.0)


# -- a scriptable proxy in front of the rail ------------------------------------------------

Rewrite = Callable[[str, Dict[str, Any]], Dict[str, Any]]


class Proxy:
    """Forwards every request to the rail. `rewrite(path, body)` may change JSON request
    bodies (a tampering rail); `delay` seconds are slept before forwarding (a slow path).
    `seen` lists the paths forwarded."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.rewrite: Optional[Rewrite] = None
        self.delay = 0.0
        self.seen: List[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _forward(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with proxy._lock:
                    proxy.seen.append(self.path)
                if proxy.rewrite is not None and body:
                    body = json.dumps(proxy.rewrite(self.path, json.loads(body))).encode()
                if proxy.delay:
                    time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection")}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body if body else None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = _forward
            do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p in self.seen if p.split("?")[0] == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(demo: Demo) -> Iterator[Proxy]:
    p = Proxy(demo.rail_url)
    try:
        yield p
    finally:
        p.close()
