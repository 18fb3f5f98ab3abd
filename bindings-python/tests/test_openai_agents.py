"""`intentrail.openai_agents` in the OpenAI Agents SDK's own agent loop (`Runner.run`), on a
scripted model that implements the SDK's `Model` interface, against the real `intentrail demo`
rail: the model gets the rail's schema in strict mode, an allowed call runs once (the `null`
strict mode sends for a left-out optional member is dropped), a refusal reaches the model as
its explanation (not the SDK's generic "try again"), and a replayed call id runs once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict, List, Optional

from intentrail import Rail
from support import pid, received

# openai-agents is installed by bindings-python/run-tests.sh.
from agents import Agent, FunctionTool, RunConfig, Runner
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from intentrail.openai_agents import function_tools


RUN = uuid.uuid4().hex[:8]  # call ids are the idempotency keys: unique per test run


def call(name: str, args: Dict[str, Any], call_id: str) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(type="function_call", name=name, call_id=f"{call_id}_{RUN}",
                                    arguments=json.dumps(args), id=f"fc_{call_id}_{RUN}")


def say(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        type="message", id="msg_1", role="assistant", status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])])


class ScriptedModel(Model):
    """Answers each turn with the next scripted output item; records what it was given."""

    def __init__(self, script: List[Any]) -> None:
        self.script = list(script)
        self.inputs: List[Any] = []
        self.tools: List[Any] = []

    async def get_response(self, system_instructions: Optional[str], input: Any,
                           model_settings: Any, tools: List[Any], output_schema: Any,
                           handoffs: Any, tracing: Any, **kwargs: Any) -> ModelResponse:
        self.inputs.append(input)
        self.tools = tools
        return ModelResponse(output=[self.script.pop(0)], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the tests run the agent without streaming")

    def tool_outputs(self) -> Dict[str, str]:
        """call id → the output the model read for it, from the last turn's input."""
        return {i["call_id"]: i["output"] for i in self.inputs[-1]
                if isinstance(i, dict) and i.get("type") == "function_call_output"}


def run(rail: Rail, script: List[Any]) -> ScriptedModel:
    model = ScriptedModel(script)
    agent = Agent(name="refunds", instructions="Refund what the user asks.", model=model,
                  tools=list(function_tools(rail)))
    result = asyncio.run(Runner.run(agent, "refund it",
                                    run_config=RunConfig(tracing_disabled=True)))
    assert result.final_output == "done"  # the run went on to the model's answer
    return model


def test_tools_carry_the_rails_schema_in_strict_mode(rail: Rail) -> None:
    tools = {t.name: t for t in function_tools(rail)}
    refund = tools["money_refund"]
    assert isinstance(refund, FunctionTool) and refund.strict_json_schema
    params = refund.params_json_schema
    schema = next(a["schema"] for a in rail.actions()["actions"] if a["name"] == "money.refund")
    assert params["required"] == list(schema["properties"])  # strict: every member listed
    assert params["additionalProperties"] is False
    optional = set(schema["properties"]) - set(schema["required"])
    assert optional, "the demo's refund has an optional member"
    for name in optional:  # an optional member may be null, not made up
        assert {"type": "null"} in params["properties"][name]["anyOf"]
    for name in schema["required"]:
        assert params["properties"][name]["type"] == schema["properties"][name]["type"]


def test_an_agent_refunds_once_and_reads_each_refusal(demo: Any, rail: Rail) -> None:
    ok, denied, bad = pid(), pid(), pid()
    model = run(rail, [
        call("money_refund", {"payment_id": ok, "amount": 9, "currency": "usd", "reason": None},
             "call_1"),
        call("money_refund", {"payment_id": denied, "amount": 20_000, "currency": "usd",
                              "reason": None}, "call_2"),
        call("money_refund", {"payment_id": bad, "amount": 5, "currency": "USD",
                              "reason": None}, "call_3"),
        call("money_transfer", {"amount": 100, "currency": "usd", "from_account": "acct_a",
                                "to_account": "acct_b", "reference": None}, "call_4"),
        say("done"),
    ])
    seen = {k.removesuffix("_" + RUN): v for i in model.inputs for k, v in _outputs(i).items()}
    first = json.loads(seen["call_1"])
    assert first["status"] == 200 and first["receipt_id"]
    assert seen["call_2"].startswith("policy_denied: ") and "Rules: refund_cap" in seen["call_2"]
    assert "will be refused again" in seen["call_2"]
    assert seen["call_3"].startswith("schema_invalid: ") and "/currency" in seen["call_3"]
    assert seen["call_4"].startswith("approval_pending: ")
    assert not any("An error occurred" in v for v in seen.values())
    assert len(received(demo, ok)) == 1
    assert received(demo, denied) == [] and received(demo, bad) == []
    # The null strict mode made the model send for `reason` never reached the downstream.
    assert "reason" not in json.loads(received(demo, ok)[0]["body"])


def test_a_replayed_call_id_never_executes_twice(demo: Any, rail: Rail) -> None:
    p = pid()
    args = {"payment_id": p, "amount": 4, "currency": "usd", "reason": "dup"}
    model = run(rail, [call("money_refund", args, "call_same"),
                             call("money_refund", args, "call_same"), say("done")])
    outputs = [_outputs(i).get("call_same_" + RUN) for i in model.inputs[1:]]
    assert outputs[0] is not None and outputs[0] == outputs[1]  # the first answer, replayed
    assert len(received(demo, p)) == 1


def _outputs(items: Any) -> Dict[str, str]:
    return {i["call_id"]: i["output"] for i in items if isinstance(items, list)
            and isinstance(i, dict) and i.get("type") == "function_call_output"}
