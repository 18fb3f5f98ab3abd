"""The rail's own MCP server (`/mcp`, Streamable HTTP) driven by the official MCP Python SDK's
client, with nothing but the agent's IntentRail key, against the real `intentrail demo` rail:
the catalog as tools, an allowed call forwarded once with its receipt, refusals as tool errors
a model can act on, and keys checked before any MCP message."""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List

import anyio
import httpx
import pytest

from intentrail import Rail, tool_name
from support import pid, received

# The MCP SDK is installed by bindings-python/run-tests.sh.
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def session(demo: Any, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(demo.rail_url + "/mcp", http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                yield s


def calls(demo: Any, *requests: Any) -> List[Any]:
    """Each `(tool, arguments)` called in one session, in order."""

    async def run() -> List[Any]:
        async with session(demo, demo.api_key) as s:
            return [await s.call_tool(name, args) for name, args in requests]

    return anyio.run(run)


def test_the_catalog_is_listed_as_tools_with_the_rails_schemas(demo: Any, rail: Rail) -> None:
    async def run() -> Any:
        async with session(demo, demo.api_key) as s:
            return await s.list_tools()

    tools = {t.name: t for t in anyio.run(run).tools}
    catalog = rail.actions()["actions"]
    assert set(tools) == {tool_name(a["name"]) for a in catalog}
    for a in catalog:
        t = tools[tool_name(a["name"])]
        assert t.input_schema == a["schema"]
        assert t.description == a["description"]
        assert t.annotations.destructive_hint is True and t.annotations.read_only_hint is False


def test_an_allowed_call_is_forwarded_once_with_its_receipt(demo: Any, rail: Rail) -> None:
    p = pid()
    (r,) = calls(demo, ("money_refund", {"payment_id": p, "amount": 12, "currency": "usd"}))
    assert not r.is_error, r
    seen = r.structured_content
    assert seen["status"] == 200 and seen["body"]["status"] == "succeeded"
    assert json.loads(r.content[0].text) == seen
    assert len(received(demo, p)) == 1
    receipt = rail.receipt(seen["receipt_id"])
    assert receipt["kind"] == "execution" and receipt["outcome"] == "success"
    assert receipt["action"] == "money.refund"
    # How the call came: MCP, in the client's session, with its JSON-RPC request id.
    assert receipt["via"]["protocol"] == "mcp"
    assert receipt["via"]["session"] and receipt["via"]["request"].isdigit(), receipt["via"]
    # The agent's key never reaches the downstream.
    assert demo.api_key not in json.dumps(received(demo, p))


def test_refusals_are_tool_errors_a_model_can_act_on(demo: Any) -> None:
    p = pid()
    denied, invalid, pending = calls(
        demo,
        ("money_refund", {"payment_id": p, "amount": 20_000, "currency": "usd"}),
        ("money_refund", {"payment_id": p, "amount": 0, "currency": "USD"}),
        ("money_transfer", {"from_account": "acct_a", "to_account": "acct_b", "amount": 5,
                            "currency": "usd"}),
    )
    assert denied.is_error and invalid.is_error and pending.is_error
    text = denied.content[0].text
    assert text == ("policy_denied: denied by policy `refund_cap`. Rules: refund_cap. "
                    "Calling again with the same request will be refused again."), text
    text = invalid.content[0].text
    assert text.startswith("schema_invalid: ") and "/amount: " in text and "/currency: " in text
    assert text.endswith("Fix the request as described, then call again."), text
    text = pending.content[0].text
    assert text.startswith("approval_pending: the action waits for approval apr_"), text
    assert "Rules: transfers_need_approval" in text
    assert received(demo, p) == []


def test_an_unknown_tool_is_a_protocol_error(demo: Any) -> None:
    async def run() -> Any:
        async with session(demo, demo.api_key) as s:
            with pytest.raises(MCPError) as e:
                await s.call_tool("money_refund_everything", {})
            return e.value

    assert "no tool" in str(anyio.run(run))


def test_keys_are_checked_before_any_mcp_message(demo: Any) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer ir_not_a_key"},
                    {"Authorization": f"Bearer {demo.api_key}", "IntentRail-Agent": "someone-else"}):
        r = httpx.post(demo.rail_url + "/mcp", json=init, headers={**accept, **headers})
        assert r.status_code == 401, (headers.keys(), r.text)
        assert r.json()["code"] == "unauthenticated"
    # The agent header may be sent, and must then match.
    ok = httpx.post(demo.rail_url + "/mcp", json=init, headers={
        **accept, "Authorization": f"Bearer {demo.api_key}", "IntentRail-Agent": demo.agent_id})
    assert ok.status_code == 200, ok.text
    answer = next(json.loads(line[5:]) for line in ok.text.splitlines() if line.startswith("data:")
                  and line[5:].strip())
    assert answer["result"]["serverInfo"]["name"] == "intentrail"
    assert answer["result"]["capabilities"]["tools"]["listChanged"] is True
    assert ok.headers["mcp-session-id"]


def test_fifty_concurrent_calls_forward_fifty_times_with_fifty_receipts(demo: Any,
                                                                         rail: Rail) -> None:
    payments = [pid() for _ in range(50)]
    results: Dict[str, Any] = {}

    async def run() -> None:
        async with session(demo, demo.api_key) as s:
            async def one(p: str) -> None:
                results[p] = await s.call_tool(
                    "money_payment", {"customer": p, "amount": 100, "currency": "usd"})

            async with anyio.create_task_group() as tg:
                for p in payments:
                    tg.start_soon(one, p)

    anyio.run(run)
    assert all(not r.is_error for r in results.values()), [
        r.content[0].text for r in results.values() if r.is_error][:3]
    assert all(len(received(demo, p)) == 1 for p in payments)
    receipts = {r.structured_content["receipt_id"] for r in results.values()}
    assert len(receipts) == 50
    for rid in list(receipts)[:5]:
        assert rail.receipt(rid)["outcome"] == "success"


def test_intentrail_mcp_serves_the_same_tools_over_stdio(demo: Any, rail: Rail) -> None:
    """`intentrail mcp` as a client launches it: a subprocess with only the agent's key in its
    environment, relaying to the rail's /mcp."""
    from mcp import Client, StdioServerParameters

    binary = os.environ.get("INTENTRAIL_BIN") or str(REPO / "target" / "debug" / "intentrail")
    env = {"INTENTRAIL_URL": demo.rail_url, "INTENTRAIL_API_KEY": demo.api_key}
    params = StdioServerParameters(command=binary, args=["mcp"], env=env)
    p = pid()

    async def run() -> Any:
        async with Client(params) as client:
            tools = (await client.list_tools()).tools
            ok = await client.call_tool("money_refund",
                                        {"payment_id": p, "amount": 14, "currency": "usd"})
            denied = await client.call_tool("money_refund",
                                            {"payment_id": p, "amount": 20_000, "currency": "usd"})
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("money_refund_everything", {})
            return tools, ok, denied, unknown.value

    tools, ok, denied, unknown = anyio.run(run)
    assert {t.name for t in tools} == {tool_name(a["name"]) for a in rail.actions()["actions"]}
    assert not ok.is_error and ok.structured_content["status"] == 200, ok
    assert denied.is_error and "Rules: refund_cap" in denied.content[0].text
    assert "no tool" in str(unknown)
    assert len(received(demo, p)) == 1

    # A wrong key: every request is answered with the rail's refusal, the key never echoed.
    bad = StdioServerParameters(command=binary, args=["mcp"],
                                env={"INTENTRAIL_URL": demo.rail_url,
                                     "INTENTRAIL_API_KEY": "ir_wrong_key_123"})

    async def refused() -> Any:
        with pytest.raises(Exception) as e:
            async with Client(bad) as client:
                await client.list_tools()
        return e.value

    error = anyio.run(refused)
    assert "unauthenticated" in repr(error), repr(error)
    assert "ir_wrong_key_123" not in repr(error)
