"""`intentrail.mcp` driven by the official MCP SDK's own client (in memory), against the real
`intentrail demo` rail: the catalog as tools with the rail's schemas, an allowed call that runs
once, and refusals that reach the model as tool errors it can read."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict

import anyio
import pytest

from intentrail import Rail
from support import pid, received

# The MCP SDK is installed by bindings-python/run-tests.sh.
from mcp import Client, StdioServerParameters

from intentrail.mcp import main, mcp_server



def call(rail: Rail, name: str, args: Dict[str, Any]) -> Any:
    async def run() -> Any:
        async with Client(mcp_server(rail)) as client:
            return await client.call_tool(name, args)

    return anyio.run(run)


def test_the_catalog_is_listed_with_the_rails_schemas(rail: Rail) -> None:
    async def run() -> Any:
        async with Client(mcp_server(rail)) as client:
            return await client.list_tools()

    tools = {t.name: t for t in anyio.run(run).tools}
    schema = next(a["schema"] for a in rail.actions()["actions"] if a["name"] == "money.refund")
    assert tools["money_refund"].input_schema == schema
    assert tools["money_refund"].description


def test_an_allowed_call_runs_once_and_answers_the_body(demo: Any, rail: Rail) -> None:
    p = pid()
    r = call(rail, "money_refund", {"payment_id": p, "amount": 11, "currency": "usd"})
    assert not r.is_error, r
    answer = json.loads(r.content[0].text)
    assert answer["status"] == 200 and answer["receipt_id"].startswith("rct_")
    assert r.structured_content == answer
    assert len(received(demo, p)) == 1


def test_refusals_are_tool_errors_the_model_can_read(demo: Any, rail: Rail) -> None:
    p = pid()
    denied = call(rail, "money_refund", {"payment_id": p, "amount": 20_000, "currency": "usd"})
    assert denied.is_error
    text = denied.content[0].text
    assert text.startswith("policy_denied: ") and "Rules: refund_cap" in text, text
    assert text.endswith("Calling again with the same request will be refused again."), text
    bad = call(rail, "money_refund", {"payment_id": p, "amount": -5, "currency": "USD"})
    assert bad.is_error
    assert "/amount: " in bad.content[0].text and "/currency: " in bad.content[0].text
    unknown = call(rail, "money_refunds", {"payment_id": p})
    assert unknown.is_error and unknown.content[0].text.startswith("unknown_action: ")
    assert received(demo, p) == []


def test_python_m_intentrail_mcp_serves_over_stdio(demo: Any) -> None:
    # The real command as a client launches it: a subprocess speaking MCP on stdin/stdout.
    env = {"INTENTRAIL_URL": demo.rail_url, "INTENTRAIL_API_KEY": demo.api_key,
           "INTENTRAIL_AGENT_ID": demo.agent_id, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "intentrail.mcp"], env=env)
    p = pid()

    async def run() -> Any:
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "money_refund" in names
            return await client.call_tool("money_refund",
                                          {"payment_id": p, "amount": 12, "currency": "usd"})

    r = anyio.run(run)
    assert not r.is_error, r
    assert json.loads(r.content[0].text)["status"] == 200
    assert len(received(demo, p)) == 1


def test_the_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "INTENTRAIL_API_KEY" in capsys.readouterr().out
    assert main(["--bogus"]) == 2
