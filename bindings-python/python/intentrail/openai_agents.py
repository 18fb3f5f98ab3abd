"""The rail's catalog as tools of the OpenAI Agents SDK (``pip install
'intentrail[openai-agents]'``).

Each governed action becomes a ``FunctionTool`` named by :func:`intentrail.tool_name`, whose
parameters are the rail's own JSON Schema, published in strict mode where the schema allows it
(:func:`intentrail.openai_strict_schema`; the ``null`` strict mode makes the model send for an
optional member it leaves out is dropped before the call). A call takes the full governed path
(:meth:`Rail.acall_tool`) with the tool call's id as the idempotency key, so a run that replays
the same call never executes it twice. The model reads:

- for a result, ``{"status", "body", "receipt_id"}`` as text (:meth:`Result.for_model`);
- for a refusal, the error's rendering (the code, the rules or the violations, what calling
  again can do) as the tool's output, not the SDK's generic "An error occurred while running
  the tool. Please try again", which would tell the model to retry a policy denial.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, List, Optional

from ._rail import Rail
from ._tools import CatalogTools, catalog_tools
from .exceptions import IntentRailError

try:
    from agents import FunctionTool
    from agents.tool_context import ToolContext
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "intentrail.openai_agents needs the OpenAI Agents SDK: "
        "pip install 'intentrail[openai-agents]'"
    ) from e

__all__ = ["function_tools"]


def function_tools(rail: Rail, actions: Optional[Iterable[Any]] = None) -> List[FunctionTool]:
    """The actions of the agent's catalog as ``FunctionTool``s: all, or those in ``actions``
    (names or ``@governed`` functions). The catalog is read now; call again after the
    tenant's catalog changes."""
    tools = catalog_tools(rail.actions(), "openai", strict=True, only=actions)
    out = []
    for d in tools.defs:
        f = d["function"]
        out.append(FunctionTool(
            name=f["name"],
            description=f["description"],
            params_json_schema=f["parameters"],
            on_invoke_tool=_invoke(rail, tools, f["name"]),
            strict_json_schema=f["strict"],
        ))
    return out


def _invoke(rail: Rail, tools: CatalogTools,
            name: str) -> Callable[[ToolContext[Any], str], Awaitable[str]]:
    async def invoke(ctx: ToolContext[Any], args: str) -> str:
        try:
            r = await rail._arun_tool(tools, name, args, ctx.tool_call_id or None)
        except IntentRailError as e:
            return str(e)
        return r.for_model()

    return invoke
