"""An MCP server of the rail's catalog, for teams that host their own (the official ``mcp``
SDK, 2.x: ``pip install 'intentrail[mcp]'``).

Each governed action of the agent's tenant is a tool, named by :func:`intentrail.tool_name`,
whose input schema is the rail's own. A call takes the full governed path
(:meth:`Rail.acall_tool`). The model reads:

- for a result, ``{"status", "body", "receipt_id"}`` as text (:meth:`Result.for_model`), also
  given as structured content;
- for a refusal, a tool error (``isError``) whose text is the error's rendering: the code, the
  rules or the violations, and what calling again can do. It is never an exception that ends
  the client's session.

Run it over stdio with the agent's environment (``INTENTRAIL_URL``, ``INTENTRAIL_API_KEY``,
``INTENTRAIL_AGENT_ID``)::

    python -m intentrail.mcp

MCP gives no identifier that stays the same when a client retries a tool call, so no
idempotency key is sent.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, List, Optional

from ._rail import Rail
from ._tools import CatalogTools, catalog_tools
from .exceptions import IntentRailError

__all__ = ["mcp_server", "main"]


def mcp_server(rail: Rail, *, name: str = "intentrail",
               actions: Optional[Iterable[Any]] = None) -> Any:
    """A low-level ``mcp.server.Server`` that lists the catalog of ``rail`` as tools (all its
    actions, or those in ``actions``: names or ``@governed`` functions) and runs their calls
    through it. Run it on any transport of the SDK (stdio, Streamable HTTP, in memory).
    Each ``tools/list`` reads the catalog again."""
    try:
        import mcp_types as types
        from mcp.server import Server
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "intentrail.mcp needs the MCP SDK 2.x: pip install 'intentrail[mcp]'"
        ) from e
    wanted = None if actions is None else list(actions)
    listed: List[CatalogTools] = []  # the last listing (replaced whole)

    async def load() -> CatalogTools:
        tools = catalog_tools(await rail.aactions(), "mcp", only=wanted)
        listed[:] = [tools]
        return tools

    async def list_tools(ctx: Any, params: Any) -> Any:
        tools = await load()
        return types.ListToolsResult(tools=[
            types.Tool(name=d["name"], description=d["description"], input_schema=d["inputSchema"])
            for d in tools.defs
        ])

    async def call_tool(ctx: Any, params: Any) -> Any:
        try:
            tools = listed[0] if listed else await load()
            result = await rail._arun_tool(tools, params.name, dict(params.arguments or {}))
        except IntentRailError as e:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(e))], is_error=True
            )
        text = result.for_model()
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=json.loads(text),
            is_error=False,
        )

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m intentrail.mcp``: serve the catalog over stdio for the agent whose key is
    in the environment."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        print(
            "usage: python -m intentrail.mcp\n\n"
            "Serves the governed actions of the agent in INTENTRAIL_URL, INTENTRAIL_API_KEY and\n"
            "INTENTRAIL_AGENT_ID as MCP tools over stdio (the MCP SDK 2.x).",
            file=sys.stderr if args not in (["-h"], ["--help"]) else sys.stdout,
        )
        return 0 if args in (["-h"], ["--help"]) else 2
    import anyio
    from mcp.server.stdio import stdio_server

    server = mcp_server(Rail.from_env())

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
