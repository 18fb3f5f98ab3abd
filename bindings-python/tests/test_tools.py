"""The catalog as LLM tools against the real `intentrail demo` rail: definitions in the OpenAI,
Anthropic and MCP shapes with the rail's own schemas, tool calls from a model's JSON text,
retries that never execute twice, refusals a model can read, and the result it is handed."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict

import pytest

from intentrail import (
    InvalidRequest,
    PermitRejected,
    PolicyDenied,
    Rail,
    Result,
    tool_definition,
    tool_name,
)
from intentrail._tools import catalog_tools
from support import pid, received



def refund_schema(rail: Rail) -> Dict[str, Any]:
    return next(a["schema"] for a in rail.actions()["actions"] if a["name"] == "money.refund")


def test_definitions_carry_the_rails_own_schema_in_each_shape(rail: Rail) -> None:
    schema = refund_schema(rail)
    assert schema.get("required"), schema  # the rail's schema, with its constraints
    openai = {d["function"]["name"]: d for d in rail.tool_definitions()}
    assert openai["money_refund"]["type"] == "function"
    assert openai["money_refund"]["function"]["parameters"] == schema
    assert openai["money_refund"]["function"]["description"]
    anthropic = {d["name"]: d for d in rail.tool_definitions("anthropic")}
    assert anthropic["money_refund"]["input_schema"] == schema
    mcp = {d["name"]: d for d in rail.tool_definitions("mcp")}
    assert mcp["money_refund"]["inputSchema"] == schema
    assert set(openai) == set(anthropic) == set(mcp)
    assert rail.action_for_tool("money_refund") == "money.refund"
    assert rail.action_for_tool("no_such_tool") is None
    with pytest.raises(InvalidRequest, match="tool format"):
        rail.tool_definitions("gemini")  # type: ignore[arg-type]


def test_names_map_reversibly_or_the_catalog_is_refused() -> None:
    assert tool_name("money.refund") == "money_refund"
    assert tool_name("github.repos/get") == "github_repos_get"
    with pytest.raises(InvalidRequest):
        tool_name("x" * 65)
    with pytest.raises(InvalidRequest, match="same tool name"):
        catalog_tools({"actions": [{"name": "a.b"}, {"name": "a_b"}]}, "openai")
    defs, names = catalog_tools({"actions": [{"name": "a.b"}]}, "mcp")
    assert names == {"a_b": "a.b"}
    assert defs == [tool_definition("a.b", None, None, "mcp")]
    assert defs[0]["inputSchema"] == {"type": "object"}


def test_a_models_json_call_executes_once_and_the_model_gets_the_body(demo: Any, rail: Rail) -> None:
    p = pid()
    call_id = "call_" + uuid.uuid4().hex
    args = json.dumps({"payment_id": p, "amount": 7, "currency": "usd"})
    r = rail.call_tool("money_refund", args, idempotency_key=call_id)
    assert isinstance(r, Result) and r.status == 200
    assert len(received(demo, p)) == 1
    seen = json.loads(r.for_model())
    assert seen == {"status": 200, "body": r.body, "receipt_id": r.receipt_id}
    assert r.receipt_id and r.receipt["sig"] not in r.for_model()
    assert r.to_dict() == {"status": 200, "body": r.body, "receipt_id": r.receipt_id,
                           "permit_id": r.permit_id}
    # The framework retries the same tool call after a reported success: it never runs twice.
    # The key replays the same permit, which is spent: the retry is refused with
    # permit_already_used (answering it with the first result is not built yet).
    with pytest.raises(PermitRejected) as again:
        rail.call_tool("money_refund", args, idempotency_key=call_id)
    assert again.value.code == "permit_already_used"
    assert len(received(demo, p)) == 1


def test_refusals_reach_the_model_as_text_it_can_act_on(demo: Any, rail: Rail) -> None:
    p = pid()
    with pytest.raises(PolicyDenied) as e:
        rail.call_tool("money_refund", {"payment_id": p, "amount": 20_000, "currency": "usd"})
    assert "Rules: refund_cap" in str(e.value)
    # A duplicate key in the model's JSON is refused by the core, not resolved.
    with pytest.raises(InvalidRequest) as dup:
        rail.call_tool("money_refund", '{"payment_id": "%s", "amount": 1, "amount": 9000}' % p)
    assert dup.value.code == "invalid_json"
    with pytest.raises(InvalidRequest) as unknown:
        rail.call_tool("money_refunds", {"payment_id": p})
    assert unknown.value.code == "unknown_action"
    assert received(demo, p) == []


def test_async_tools_mirror_the_sync_ones(demo: Any, rail: Rail) -> None:
    async def run() -> Result:
        defs = await rail.atool_definitions("anthropic")
        assert any(d["name"] == "money_refund" for d in defs)
        return await rail.acall_tool("money_refund", {"payment_id": p, "amount": 3, "currency": "usd"})

    p = pid()
    r = asyncio.run(run())
    assert r.status == 200 and len(received(demo, p)) == 1
