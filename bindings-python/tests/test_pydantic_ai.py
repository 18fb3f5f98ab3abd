"""`intentrail.pydantic_ai` in Pydantic AI's own agent loop (`Agent.run_sync`), on its scripted
`FunctionModel`, against the real `intentrail demo` rail: the model gets the rail's schema, an
allowed call runs once, a malformed call comes back as a retry prompt naming the field, a
policy denial or an approval to wait for as a failed tool result with the reason (the run goes
on), and a replayed call id runs once."""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List

from intentrail import Rail
from support import pid, received

# pydantic-ai-slim is installed by bindings-python/run-tests.sh.
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from intentrail.pydantic_ai import pydantic_ai_tools

RUN = uuid.uuid4().hex[:8]  # call ids are the idempotency keys: unique per test run


def call(name: str, args: Dict[str, Any], call_id: str) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=f"{call_id}_{RUN}")])


class Script:
    """A FunctionModel's function: the next scripted response; remembers what it was given."""

    def __init__(self, responses: List[ModelResponse]) -> None:
        self.responses = list(responses)
        self.seen: List[ModelMessage] = []
        self.info: List[AgentInfo] = []

    def __call__(self, messages: List[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen = list(messages)
        self.info.append(info)
        return self.responses.pop(0)

    def answers(self) -> Dict[str, Any]:
        """call id → the tool return that answered it (its outcome says success, failed or
        retried)."""
        return {p.tool_call_id.removesuffix("_" + RUN): p for m in self.seen
                if isinstance(m, ModelRequest) for p in m.parts
                if isinstance(p, ToolReturnPart)}


def run(rail: Rail, responses: List[ModelResponse]) -> Script:
    script = Script(responses + [ModelResponse(parts=[TextPart("done")])])
    agent = Agent(FunctionModel(script), tools=pydantic_ai_tools(rail))
    assert agent.run_sync("refund it").output == "done"  # the run went on to the answer
    return script


def test_the_model_sees_the_rails_schema(rail: Rail) -> None:
    script = run(rail, [])
    tools = {t.name: t for t in script.info[0].function_tools}
    schema = next(a["schema"] for a in rail.actions()["actions"] if a["name"] == "money.refund")
    assert tools["money_refund"].parameters_json_schema == schema


def test_an_agent_refunds_once_and_reads_each_refusal(demo: Any, rail: Rail) -> None:
    ok, denied, bad = pid(), pid(), pid()
    script = run(rail, [
        call("money_refund", {"payment_id": ok, "amount": 9, "currency": "usd"}, "call_1"),
        call("money_refund", {"payment_id": denied, "amount": 20_000, "currency": "usd"},
             "call_2"),
        call("money_refund", {"payment_id": bad, "amount": 5, "currency": "USD"}, "call_3"),
        call("money_transfer", {"amount": 100, "currency": "usd", "from_account": "acct_a",
                                "to_account": "acct_b"}, "call_4"),
    ])
    seen = script.answers()
    assert isinstance(seen["call_1"], ToolReturnPart)
    first = json.loads(seen["call_1"].content)
    assert first["status"] == 200 and first["receipt_id"]
    # Terminal refusals are failed tool results: the reason, no "fix and retry".
    denial = seen["call_2"]
    assert isinstance(denial, ToolReturnPart) and denial.outcome == "failed"
    assert denial.content.startswith("policy_denied: ")
    # What the model reads: {"error": "<the explanation>"}.
    assert json.loads(denial.model_response_str()) == {"error": denial.content}
    assert "Rules: refund_cap" in denial.content and "will be refused again" in denial.content
    # A malformed request is the one refusal the model is asked to fix and retry.
    assert seen["call_3"].outcome == "retried"
    assert seen["call_3"].content.startswith("schema_invalid: ")
    assert "/currency" in seen["call_3"].model_response_str()
    assert seen["call_4"].outcome == "failed"
    assert seen["call_4"].content.startswith("approval_pending: ")
    assert len(received(demo, ok)) == 1
    assert received(demo, denied) == [] and received(demo, bad) == []


def test_a_replayed_call_id_never_executes_twice(demo: Any, rail: Rail) -> None:
    p = pid()
    args = {"payment_id": p, "amount": 4, "currency": "usd"}
    first = run(rail, [call("money_refund", args, "call_same")]).answers()["call_same"]
    again = run(rail, [call("money_refund", args, "call_same")]).answers()["call_same"]
    assert isinstance(again, ToolReturnPart) and again.content == first.content
    assert len(received(demo, p)) == 1
