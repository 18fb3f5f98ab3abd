"""Transparent mode with a real HTTP client library (httpx), as an unmodified vendor SDK
would use it: base URL = {rail}/v1/proxy/{profile}, API key = the IntentRail key. The rail
binary runs with a mirrored profile imported by `intentrail profiles import`, in front of a
vendor double that records what reaches it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import parse_qsl

import httpx
import pytest

from intentrail import payload_hash

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "server" / "tests" / "fixtures" / "shop.yaml"
SECRET = "sk_vendor_secret_6f1d2a9c"


class Vendor:
    """The vendor's API: records every request, answers like the vendor would."""

    def __init__(self) -> None:
        self.seen: List[Dict[str, Any]] = []
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                vendor.seen.append({
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode(),
                })
                data = json.dumps({"object": "charge", "id": "ch_1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Vendor-Request-Id", "req_1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rail:
    def __init__(self, url: str, agent_key: str, config: str) -> None:
        self.url = url
        self.agent_key = agent_key
        self.config = config

    def __repr__(self) -> str:  # keep the key out of pytest's output
        return f"Rail({self.url!r})"


@pytest.fixture(scope="module")
def vendor() -> Iterator[Vendor]:
    v = Vendor()
    yield v
    v.server.shutdown()


@pytest.fixture(scope="module")
def shop_rail(tmp_path_factory: pytest.TempPathFactory, vendor: Vendor) -> Iterator[Rail]:
    binary = os.environ.get("INTENTRAIL_BIN") or str(REPO / "target" / "debug" / "intentrail")
    work = tmp_path_factory.mktemp("proxy")
    out = subprocess.run([binary, "init", "--dir", str(work)], check=True, capture_output=True,
                         text=True).stdout
    agent_key = re.search(r"key \(shown once, stored only as a hash\): (\S+)", out).group(1)
    text = (work / "intentrail.toml").read_text()
    admin_hash = re.search(r'admin_key_hash = "([^"]+)"', text).group(1)
    agent_hash = re.search(r'key_hash = "([^"]+)"', text.split("[[tenants.agents]]")[1]).group(1)
    port = _free_port()
    (work / "intentrail.toml").write_text(f'''
listen = "127.0.0.1:{port}"
ledger = "sqlite://ledger.db"

[[tenants]]
id = "default"
keys_dir = "keys/default"
admin_key_hash = "{admin_hash}"
policies = """
@id("shop_allowed")
permit(principal, action, resource == Connector::"shop");
@id("charge_cap")
forbid(principal, action == Action::"shop.createCharge", resource)
  when {{ context.params.body.amount > 5000 }};
"""

[[tenants.agents]]
id = "agent-1"
key_hash = "{agent_hash}"

[[tenants.connectors]]
name = "shop"
base_url = "{vendor.url}/api"
credential = "env:SHOP_SECRET"
auth = {{ type = "bearer" }}
allow_private = true

[[tenants.profiles]]
name = "shop"
connector = "shop"
''')
    cfg = str(work / "intentrail.toml")
    imp = subprocess.run([binary, "profiles", "import", "shop", str(SHOP), "--config", cfg],
                         capture_output=True, text=True)
    assert imp.returncode == 0, imp.stderr
    assert "importing" in imp.stderr  # the progress line
    assert "6 operations imported, 1 skipped" in imp.stdout
    assert "skipped POST /v1/uploads: the request body is only offered as application/octet-stream" in imp.stdout
    env = dict(os.environ, SHOP_SECRET=SECRET)
    log = open(work / "rail.log", "wb")
    proc = subprocess.Popen([binary, "serve", "--config", cfg], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the rail did not start: " + (work / "rail.log").read_text()[-2000:])
            time.sleep(0.05)
        yield Rail(url, agent_key, cfg)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        # The vendor's credential never reaches the rail's log.
        assert SECRET not in (work / "rail.log").read_text()


def sdk(rail: Rail) -> httpx.Client:
    """What a vendor SDK does: its base URL and API key, nothing IntentRail-specific."""
    return httpx.Client(base_url=f"{rail.url}/v1/proxy/shop",
                        headers={"Authorization": f"Bearer {rail.agent_key}"}, timeout=30)


def test_allowed_call_is_forwarded_with_the_credential_injected(shop_rail: Rail, vendor: Vendor) -> None:
    before = len(vendor.seen)
    with sdk(shop_rail) as c:
        r = c.post("/v1/charges", data={"amount": "2000", "currency": "usd", "metadata[order]": "6735"},
                   headers={"Stripe-Account": "acct_1", "Cookie": "session=agent"})
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "charge", "id": "ch_1"}
    assert r.headers["x-vendor-request-id"] == "req_1"
    assert len(vendor.seen) == before + 1
    seen = vendor.seen[-1]
    assert seen["method"] == "POST" and seen["path"] == "/api/v1/charges"
    assert seen["headers"]["authorization"] == f"Bearer {SECRET}"
    assert "cookie" not in seen["headers"]
    assert seen["headers"]["stripe-account"] == "acct_1"
    assert seen["headers"]["idempotency-key"] == r.headers["intentrail-permit"]
    assert SECRET not in r.text and SECRET not in str(r.headers)

    # What was forwarded is exactly what the permit hashed: the receipt's payload hash is the
    # hash of the canonical params, and the body the vendor got decodes back to those params.
    receipt_id = r.headers["intentrail-receipt"]
    got = httpx.get(f"{shop_rail.url}/v1/receipts/{receipt_id}",
                    headers={"Authorization": f"Bearer {shop_rail.agent_key}"}).json()
    assert got["action"] == "shop.createCharge"
    assert got["profile_version"].startswith("shop@1#sha256:")
    forwarded = dict(parse_qsl(seen["body"]))
    params = {"headers": {"stripe-account": "acct_1"},
              "body": {"amount": int(forwarded["amount"]), "currency": forwarded["currency"],
                       "metadata": {"order": forwarded["metadata[order]"]}}}
    assert seen["body"] == "amount=2000&currency=usd&metadata%5Border%5D=6735"
    assert got["payload_hash"] == payload_hash(params)


def test_unknown_path_is_404_and_nothing_is_forwarded(shop_rail: Rail, vendor: Vendor) -> None:
    before = len(vendor.seen)
    with sdk(shop_rail) as c:
        for method, path in [("GET", "/v1/refunds"), ("DELETE", "/v1/charges/ch_1"),
                             ("POST", "/v1/uploads")]:
            r = c.request(method, path)
            assert r.status_code == 404, (method, path)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "unsupported_endpoint"
    assert len(vendor.seen) == before


def test_policy_applies_to_body_fields(shop_rail: Rail, vendor: Vendor) -> None:
    before = len(vendor.seen)
    with sdk(shop_rail) as c:
        r = c.post("/v1/charges", data={"amount": "9000", "currency": "usd"})
        assert r.status_code == 403
        assert r.json()["code"] == "policy_denied"
        assert r.json()["policy_ids"] == ["charge_cap"]
        r = c.post("/v1/charges", data={"amount": "10", "currency": "gbp"})
        assert r.status_code == 400
        assert r.json()["code"] == "schema_invalid"
    assert len(vendor.seen) == before


def test_query_and_json_requests_keep_the_vendor_shape(shop_rail: Rail, vendor: Vendor) -> None:
    with sdk(shop_rail) as c:
        r = c.get("/v1/charges", params=[("status", "paid"), ("status", "failed"), ("limit", "3")])
        assert r.status_code == 200, r.text
        assert vendor.seen[-1]["path"] == "/api/v1/charges?limit=3&status=paid&status=failed"
        r = c.put("/v1/trees/7/nodes", json={"name": "root", "children": [{"name": "leaf"}]})
        assert r.status_code == 200, r.text
        assert vendor.seen[-1]["body"] == '{"children":[{"name":"leaf"}],"name":"root"}'
        assert vendor.seen[-1]["headers"]["content-type"] == "application/json"
    # Without the IntentRail key nothing happens.
    r = httpx.get(f"{shop_rail.url}/v1/proxy/shop/v1/charges",
                  headers={"Authorization": "Bearer not-a-key"})
    assert r.status_code == 401


def test_the_sdk_governs_profile_actions_too(shop_rail: Rail, vendor: Vendor) -> None:
    """Profile operations are ordinary actions for the SDK: listed with their schemas, and run
    through intent → local permit verification → execute."""
    from intentrail import Rail as Client, SchemaInvalid

    client = Client(shop_rail.url, shop_rail.agent_key, "agent-1")
    names = {a["name"]: a for a in client.actions()["actions"]}
    assert names["shop.getCharge"]["schema"]["required"] == ["path"]
    result = client.act("shop.getCharge", {"path": {"charge_id": "ch_abc1"}})
    assert result.ok and result.body == {"object": "charge", "id": "ch_1"}
    assert vendor.seen[-1]["path"] == "/api/v1/charges/ch_abc1"
    assert vendor.seen[-1]["headers"]["idempotency-key"].startswith("pmt_")
    assert vendor.seen[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert result.receipt["profile_version"].startswith("shop@1#sha256:")
    with pytest.raises(SchemaInvalid):
        client.act("shop.getCharge", {"path": {"charge_id": "not a charge id"}})


def test_an_mcp_client_calls_profile_operations_as_tools(shop_rail: Rail, vendor: Vendor) -> None:
    """The rail's `/mcp` lists the profile's operations as tools (reads marked read-only) and
    runs a call through the pipeline; the vendor's credential stays out of every MCP message,
    and the agent's key never reaches the vendor."""
    import anyio
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> Any:
        headers = {"Authorization": f"Bearer {shop_rail.agent_key}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(shop_rail.url + "/mcp", http_client=http) as st:
                async with ClientSession(st[0], st[1]) as s:
                    await s.initialize()
                    tools = (await s.list_tools()).tools
                    got = await s.call_tool("shop_getCharge", {"path": {"charge_id": "ch_mcp1"}})
                    bad = await s.call_tool("shop_getCharge", {"path": {"charge_id": "no way"}})
                    return tools, got, bad

    before = len(vendor.seen)
    tools, got, bad = anyio.run(run)
    by_name = {t.name: t for t in tools}
    assert by_name["shop_getCharge"].annotations.read_only_hint is True
    assert by_name["shop_getCharge"].input_schema["required"] == ["path"]
    assert by_name["shop_createCharge"].annotations.destructive_hint is True
    assert not got.is_error, got
    assert got.structured_content["body"] == {"object": "charge", "id": "ch_1"}
    assert bad.is_error and "/path/charge_id" in bad.content[0].text
    assert len(vendor.seen) == before + 1
    assert vendor.seen[-1]["path"] == "/api/v1/charges/ch_mcp1"
    assert vendor.seen[-1]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert shop_rail.agent_key not in json.dumps(vendor.seen)
    everything = json.dumps([t.model_dump() for t in tools]) + got.model_dump_json() \
        + bad.model_dump_json()
    assert SECRET not in everything


def test_an_mcp_session_hears_of_a_new_profile_version(shop_rail: Rail, tmp_path: Path) -> None:
    """A new version of a bound profile reaches an open MCP session as
    `notifications/tools/list_changed`, over Streamable HTTP and through `intentrail mcp`."""
    import anyio
    from mcp import Client, ClientSession, StdioServerParameters
    from mcp.client.streamable_http import streamable_http_client

    binary = os.environ.get("INTENTRAIL_BIN") or str(REPO / "target" / "debug" / "intentrail")
    newer = tmp_path / "shop-v2.yaml"
    newer.write_text(SHOP.read_text().replace("Create a charge.", "Create a charge (v2)."))
    heard: Dict[str, anyio.Event] = {"http": anyio.Event(), "stdio": anyio.Event()}

    def listener(name: str) -> Any:
        async def on_message(message: Any) -> None:
            if "ToolListChanged" in type(getattr(message, "root", message)).__name__:
                heard[name].set()
        return on_message

    async def run() -> Any:
        headers = {"Authorization": f"Bearer {shop_rail.agent_key}"}
        stdio = StdioServerParameters(command=binary, args=["mcp"], env={
            "INTENTRAIL_URL": shop_rail.url, "INTENTRAIL_API_KEY": shop_rail.agent_key})
        async with httpx.AsyncClient(headers=headers, timeout=30) as http, \
                streamable_http_client(shop_rail.url + "/mcp", http_client=http) as st, \
                ClientSession(st[0], st[1], message_handler=listener("http")) as s, \
                Client(stdio, message_handler=listener("stdio")) as relayed:
            await s.initialize()
            before = {t.name: t.description for t in (await s.list_tools()).tools}
            imp = await anyio.run_process([binary, "profiles", "import", "shop", str(newer),
                                           "--config", shop_rail.config], check=False)
            assert imp.returncode == 0, imp.stderr
            with anyio.fail_after(20):
                await heard["http"].wait()
                await heard["stdio"].wait()
            after = {t.name: t.description for t in (await s.list_tools()).tools}
            return before, after, await relayed.list_tools()

    before, after, relayed = anyio.run(run)
    assert before["shop_createCharge"] == "Create a charge."
    assert after["shop_createCharge"] == "Create a charge (v2)."
    assert {t.name: t.description for t in relayed.tools} == after
