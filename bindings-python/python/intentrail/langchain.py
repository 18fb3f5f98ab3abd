"""The rail's catalog as LangChain tools (``pip install 'intentrail[langchain]'``), for
LangChain agents and LangGraph's ``ToolNode`` / ``create_react_agent``.

Each governed action becomes a tool named by :func:`intentrail.tool_name`, whose
``args_schema`` is the rail's own JSON Schema. A call takes the full governed path
(:meth:`Rail.call_tool`) with the tool call's id as the idempotency key, so a framework that
retries the same call never executes it twice. The model reads:

- for a result, ``{"status", "body", "receipt_id"}`` as text (:meth:`Result.for_model`);
- for a refusal, a tool message with ``status="error"`` whose text is the error's rendering
  (the code, the rules or the violations, what calling again can do). It is never an
  exception that ends the graph.
"""

from __future__ import annotations

import contextvars
from typing import Any, Iterable, List, Optional

from ._rail import Rail
from ._tools import catalog_tools
from .exceptions import IntentRailError

try:
    from langchain_core.tools import BaseTool, ToolException
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "intentrail.langchain needs langchain-core: pip install 'intentrail[langchain]'"
    ) from e

__all__ = ["GovernedTool", "langchain_tools"]

# The id of the tool call being run (LangChain passes it to `run`, not to `_run`).
_CALL_ID: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "intentrail_tool_call_id", default=None
)


class GovernedTool(BaseTool):
    """One governed action as a LangChain tool (see the module's documentation)."""

    rail: Any
    """The :class:`Rail` the calls go through."""
    tools: Any
    """The catalog's tools this tool is one of (its action, by its name)."""
    handle_tool_error: Any = True

    def run(self, tool_input: Any, *args: Any, tool_call_id: Optional[str] = None,
            **kwargs: Any) -> Any:
        token = _CALL_ID.set(tool_call_id)
        try:
            return super().run(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
        finally:
            _CALL_ID.reset(token)

    async def arun(self, tool_input: Any, *args: Any, tool_call_id: Optional[str] = None,
                   **kwargs: Any) -> Any:
        token = _CALL_ID.set(tool_call_id)
        try:
            return await super().arun(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
        finally:
            _CALL_ID.reset(token)

    def _run(self, *args: Any, run_manager: Any = None, **kwargs: Any) -> str:
        try:
            r = self.rail._run_tool(self.tools, self.name, kwargs, _CALL_ID.get())
        except IntentRailError as e:
            raise ToolException(str(e)) from e
        return str(r.for_model())

    async def _arun(self, *args: Any, run_manager: Any = None, **kwargs: Any) -> str:
        try:
            r = await self.rail._arun_tool(self.tools, self.name, kwargs, _CALL_ID.get())
        except IntentRailError as e:
            raise ToolException(str(e)) from e
        return str(r.for_model())


def langchain_tools(rail: Rail, actions: Optional[Iterable[Any]] = None) -> List[GovernedTool]:
    """The actions of the agent's catalog as :class:`GovernedTool`s with the rail's own
    schemas: all, or those in ``actions`` (names or ``@governed`` functions). The catalog is
    read now; call again after the tenant's catalog changes."""
    tools = catalog_tools(rail.actions(), "mcp", only=actions)
    return [
        GovernedTool(
            name=d["name"],
            description=d["description"],
            args_schema=d["inputSchema"],
            rail=rail,
            tools=tools,
        )
        for d in tools.defs
    ]
