"""`intentrail.langchain` in a LangGraph agent (`create_react_agent` with `ToolNode`), driven by
a scripted chat model, against the real `intentrail demo` rail: the model sees the rail's
schemas, an allowed call runs once, a refusal comes back as an error tool message the model
reads (the graph goes on), and a replayed tool call id never executes twice."""

from __future__ import annotations

import json
import uuid
import warnings
from typing import Any, Dict, Iterator, List, Sequence

from intentrail import Rail
from support import pid, received

# langchain-core and langgraph are installed by bindings-python/run-tests.sh.
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.prebuilt import create_react_agent

from intentrail.langchain import langchain_tools



class ScriptedModel(GenericFakeChatModel):
    """LangChain's own fake chat model, answering from its script; tools are bound as given."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "ScriptedModel":
        return self


def call(name: str, args: Dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def run_agent(rail: Rail, script: Iterator[BaseMessage]) -> List[BaseMessage]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        agent = create_react_agent(ScriptedModel(messages=script), langchain_tools(rail))
    out = agent.invoke({"messages": [("user", "refund it")]})
    return list(out["messages"])


def test_tools_carry_the_rails_schemas(rail: Rail) -> None:
    tools = {t.name: t for t in langchain_tools(rail)}
    schema = next(a["schema"] for a in rail.actions()["actions"] if a["name"] == "money.refund")
    assert tools["money_refund"].args_schema == schema
    assert tools["money_refund"].tool_call_schema["required"] == schema["required"]


def test_an_agent_refunds_once_and_reads_a_denial(demo: Any, rail: Rail) -> None:
    ok, denied = pid(), pid()
    # Call ids are idempotency keys: unique per run, as a model's are.
    ids = ["call_" + uuid.uuid4().hex for _ in range(2)]
    messages = run_agent(rail, iter([
        call("money_refund", {"payment_id": ok, "amount": 9, "currency": "usd"}, ids[0]),
        call("money_refund", {"payment_id": denied, "amount": 20_000, "currency": "usd"}, ids[1]),
        AIMessage(content="done"),
    ]))
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_messages] == ids
    first, second = tool_messages
    assert first.status == "success", first.content
    assert json.loads(str(first.content))["status"] == 200
    assert second.status == "error"
    assert "Rules: refund_cap" in str(second.content), second.content
    assert messages[-1].content == "done"  # the graph went on after the refusal
    assert len(received(demo, ok)) == 1 and received(demo, denied) == []


def test_a_replayed_tool_call_never_executes_twice(demo: Any, rail: Rail) -> None:
    p = pid()
    args = {"payment_id": p, "amount": 4, "currency": "usd"}
    call_id = "call_" + uuid.uuid4().hex
    messages = run_agent(rail, iter([
        call("money_refund", args, call_id),
        call("money_refund", args, call_id),  # the same tool call, sent again
        AIMessage(content="done"),
    ]))
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.status for m in tool_messages] == ["success", "success"]
    assert tool_messages[0].content == tool_messages[1].content  # the first answer, replayed
    assert len(received(demo, p)) == 1
