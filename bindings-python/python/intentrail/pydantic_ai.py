"""The rail's catalog as Pydantic AI tools (``pip install 'intentrail[pydantic-ai]'``).

Each governed action becomes a ``Tool`` named by :func:`intentrail.tool_name`, whose schema is
the rail's own JSON Schema (Pydantic AI does not validate it again: the rail does, and names
every violation). A call takes the full governed path (:meth:`Rail.acall_tool`) with the tool
call's id as the idempotency key. The model reads:

- for a result, ``{"status", "body", "receipt_id"}`` as text (:meth:`Result.for_model`);
- for a request the rail refused as malformed (``SchemaInvalid``, ``InvalidRequest``: fix it,
  then call again), a retry prompt (``ModelRetry``) with the error's rendering, which counts
  against the tool's retries;
- for any other refusal (a policy, a limit, an approval to wait for, an outcome to check), a
  failed tool result (``ToolFailed``) with the error's rendering: the model sees why, the run
  goes on, and no "try again" is added to a refusal that would be refused again.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional

from ._rail import Rail
from ._tools import CatalogTools, catalog_tools
from .exceptions import IntentRailError, InvalidRequest, SchemaInvalid

try:
    from pydantic_ai import ModelRetry, RunContext, Tool
    from pydantic_ai.exceptions import ToolFailed
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "intentrail.pydantic_ai needs Pydantic AI: pip install 'intentrail[pydantic-ai]'"
    ) from e

__all__ = ["pydantic_ai_tools"]


def pydantic_ai_tools(rail: Rail, actions: Optional[Iterable[Any]] = None) -> List[Tool[Any]]:
    """The actions of the agent's catalog as Pydantic AI ``Tool``s: all, or those in
    ``actions`` (names or ``@governed`` functions). The catalog is read now; call again after
    the tenant's catalog changes."""
    tools = catalog_tools(rail.actions(), "mcp", only=actions)
    return [
        Tool.from_schema(
            _invoke(rail, tools, d["name"]),
            name=d["name"],
            description=d["description"],
            json_schema=d["inputSchema"],
            takes_ctx=True,
        )
        for d in tools.defs
    ]


def _invoke(rail: Rail, tools: CatalogTools, name: str) -> Any:
    async def invoke(ctx: RunContext[Any], **args: Any) -> str:
        try:
            r = await rail._arun_tool(tools, name, args, ctx.tool_call_id or None)
        except (SchemaInvalid, InvalidRequest) as e:
            raise ModelRetry(str(e)) from e
        except IntentRailError as e:
            raise ToolFailed(str(e)) from e
        return r.for_model()

    return invoke
