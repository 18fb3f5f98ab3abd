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
    IntentRailError,
    InvalidRequest,
    PolicyDenied,
    Rail,
    Result,
    governed,
    openai_strict_schema,
    tool_definition,
    tool_name,
)

from intentrail._tools import catalog_tools, drop_strict_nulls
from intentrail.langchain import langchain_tools
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
    tools = catalog_tools({"actions": [{"name": "a.b"}]}, "mcp")
    assert tools.actions == {"a_b": "a.b"}
    assert tools.defs == [tool_definition("a.b", None, None, "mcp")]
    assert tools.defs[0]["inputSchema"] == {"type": "object"}


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
    # The framework retries the same tool call after a reported success: the key replays the
    # same permit, and its execution replays the first answer. It never runs twice.
    again = rail.call_tool("money_refund", args, idempotency_key=call_id)
    assert again.to_dict() == r.to_dict()
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


def test_openai_strict_mode_keeps_what_the_rail_accepts() -> None:
    schema = {
        "type": "object",
        "properties": {
            "amount": {"type": "integer", "minimum": 1},
            "note": {"type": "string", "maxLength": 5},
            "tag": {"type": ["string", "null"]},
            "items": {"type": "array", "items": {
                "type": "object", "properties": {"sku": {"type": "string"},
                                                 "qty": {"type": "integer"}},
                "required": ["sku"]}},
        },
        "required": ["amount"],
        "additionalProperties": False,
    }
    strict = openai_strict_schema(schema)
    assert strict is not None
    assert strict["required"] == ["amount", "note", "tag", "items"]
    assert strict["properties"]["amount"] == {"type": "integer", "minimum": 1}
    # Optional: may be null; a keyword strict mode refuses is left to the rail.
    assert strict["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    # Already nullable: stays as it is, and its null is the caller's.
    assert strict["properties"]["tag"] == {"type": ["string", "null"]}
    item = strict["properties"]["items"]["anyOf"][0]["items"]
    assert item["required"] == ["sku", "qty"] and item["additionalProperties"] is False
    call = {"amount": 5, "note": None, "tag": None,
            "items": [{"sku": "a", "qty": None}, {"sku": "b", "qty": 2}]}
    assert drop_strict_nulls(call, schema) == {
        "amount": 5, "tag": None, "items": [{"sku": "a"}, {"sku": "b", "qty": 2}]}
    # What strict mode cannot say stays non-strict, with the rail's schema.
    for other in ({"type": "object"},
                  {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}},
                  {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}},
                  {"type": "object", "properties": {"a": {"type": "array"}}},
                  {"type": "object", "properties": {"a": {}}}):
        assert openai_strict_schema(other) is None, other
        d = tool_definition("a.b", None, other, "openai", strict=True)["function"]
        assert d["strict"] is False and d["parameters"] == other


def test_governed_functions_give_the_rails_schema_and_pick_tools(rail: Rail) -> None:
    @governed("money.refund", rail=rail)
    def refund(payment_id: str, amount: int, currency: str = "usd") -> None:
        """Refund a payment (amount in cents)."""

    entry = rail.catalog_entry("money.refund")
    # Not the signature's guess: `currency` stays required, `reason` and the bounds are there.
    assert refund.input_schema() == entry["schema"]
    assert "currency" in entry["schema"]["required"] and "reason" in entry["schema"]["properties"]
    assert refund.tool_definition("anthropic") == tool_definition(
        "money.refund", "Refund a payment (amount in cents).", entry["schema"], "anthropic")
    strict = refund.tool_definition("openai", strict=True)["function"]
    assert strict["strict"] is True and strict["parameters"] == openai_strict_schema(entry["schema"])

    # A schema given in the decorator is used as it is, without asking the rail.
    def no_rail() -> Rail:
        raise AssertionError("the rail was asked")

    own = {"type": "object", "properties": {"x": {"type": "string"}}}
    offline = governed("money.refund", rail=no_rail, schema=own)(refund.__wrapped__)
    assert offline.input_schema() == own
    with pytest.raises(TypeError):
        governed("money.refund", schema="signature")  # type: ignore[arg-type]

    # Picking tools: by name or by governed function, in the catalog's order; a name the
    # catalog lacks is refused, not dropped.
    defs = rail.tool_definitions("mcp", actions=["money.payment", refund])
    order = [tool_name(a["name"]) for a in rail.actions()["actions"]]
    names = [d["name"] for d in defs]
    assert sorted(names) == ["money_payment", "money_refund"]
    assert names == sorted(names, key=order.index)
    with pytest.raises(IntentRailError) as e:
        rail.tool_definitions("mcp", actions=["money.refnud"])
    assert e.value.code == "unknown_action" and "money.refnud" in str(e.value)
    assert [t.name for t in langchain_tools(rail, actions=[refund])] == ["money_refund"]
