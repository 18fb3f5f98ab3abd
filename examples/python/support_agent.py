#!/usr/bin/env python3
"""A support agent on Pydantic AI whose tools are the rail's governed actions.

The model here is scripted (Pydantic AI's ``FunctionModel``), so the example runs offline and
the same every time, but it decides the way a model would: from what the tools answered. It
is asked for three things; the rail allows the first, denies the second by policy, and holds
the third for a person's approval, and the model tells the user which is which from the
refusal texts it reads.

    pip install 'intentrail[pydantic-ai]'
    intentrail demo --env-file demo.json &      # the demo rail
    python support_agent.py demo.json           # or set INTENTRAIL_URL, INTENTRAIL_API_KEY,
                                                # INTENTRAIL_AGENT_ID and give no argument
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any, Dict, List

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

from intentrail import IntentRailError, Rail
from intentrail.pydantic_ai import pydantic_ai_tools


def connect(argv: List[str]) -> Rail:
    if len(argv) > 1:
        with open(argv[1], encoding="utf-8") as f:
            env = json.load(f)
        return Rail(env["rail_url"], env["api_key"], env["agent_id"])
    return Rail.from_env()


def plan() -> Dict[str, ToolCallPart]:
    """The tool calls the scripted model makes for the user's request, by what they are for (a
    real model would derive them from the words). Tool call ids are fresh, as a model's are:
    the adapter sends each as the call's idempotency key."""
    payment = "pay_" + uuid.uuid4().hex[:10]

    def call(tool: str, args: Dict[str, Any]) -> ToolCallPart:
        return ToolCallPart(tool, args, tool_call_id="call_" + uuid.uuid4().hex[:12])

    return {
        "refund of 25.00 usd": call("money_refund", {
            "payment_id": payment, "amount": 2500, "currency": "usd", "reason": "damaged item"}),
        "refund of 300.00 usd": call("money_refund", {
            "payment_id": payment, "amount": 30000, "currency": "usd"}),
        "transfer of 1,000.00 usd to the vendor": call("money_transfer", {
            "amount": 100000, "currency": "usd", "from_account": "acct_ops",
            "to_account": "acct_vendor"}),
    }


class ScriptedModel:
    """A FunctionModel's function: first the planned calls, then the answer to the user,
    written from what each call answered."""

    def __init__(self) -> None:
        self.calls = plan()

    def __call__(self, messages: List[ModelMessage], info: AgentInfo) -> ModelResponse:
        answers = {p.tool_call_id: p for m in messages if isinstance(m, ModelRequest)
                   for p in m.parts if isinstance(p, ToolReturnPart)}
        if not answers:
            return ModelResponse(parts=list(self.calls.values()))
        lines = [f"- {what}: {self.reads(answers[c.tool_call_id])}"
                 for what, c in self.calls.items()]
        return ModelResponse(parts=[TextPart("Here is what happened:\n" + "\n".join(lines))])

    @staticmethod
    def reads(answer: ToolReturnPart) -> str:
        text = str(answer.content)
        if answer.outcome == "success":
            return f"done (receipt {json.loads(text)['receipt_id']})."
        if text.startswith("policy_denied:"):
            rules = text.split("Rules: ", 1)[1].split(".", 1)[0]
            return (f"not allowed by policy ({rules}); I will not try again, "
                    "a person has to handle it.")
        if text.startswith("approval_pending:"):
            return "waiting for a person's approval; I will tell you when it is decided."
        return f"failed: {text}"


def main(argv: List[str]) -> int:
    try:
        rail = connect(argv)
    except (OSError, KeyError, ValueError, IntentRailError) as e:
        print(f"usage: support_agent.py [demo-env.json]  (or set INTENTRAIL_URL, "
              f"INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID): {e}", file=sys.stderr)
        return 2
    agent: Agent[None, str] = Agent(FunctionModel(ScriptedModel()),
                                    tools=pydantic_ai_tools(rail))
    result = agent.run_sync("Refund 25.00 and 300.00 on my order, and pay the vendor 1,000.00.")
    for m in result.all_messages():
        for p in m.parts:
            if isinstance(p, ToolCallPart):
                print(f"model calls {p.tool_name} {json.dumps(p.args_as_dict(), sort_keys=True)}")
            elif isinstance(p, ToolReturnPart):
                print(f"model reads ({p.outcome}): {p.content}")
    print(result.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
