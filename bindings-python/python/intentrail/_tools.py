"""The rail's catalog as LLM tools: names, definitions in the shapes tool-calling APIs take,
and the way back from a tool call to the governed action.

Tool-calling APIs accept names matching ``^[A-Za-z0-9_-]{1,64}$``: an action's tool name is its
name with every other character replaced by ``_`` (``money.refund`` → ``money_refund``), the
same rule as the Node and Kotlin SDKs. A catalog where two actions would share a tool name is
refused rather than guessed. The schema of each tool is the rail's own (the one the rail
validates), never one inferred from a Python signature.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple

from .exceptions import _from_native

ToolFormat = Literal["openai", "anthropic", "mcp"]

_FORMATS: Tuple[str, ...] = ("openai", "anthropic", "mcp")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(action: str) -> str:
    """The tool name of ``action`` (``money.refund`` → ``money_refund``)."""
    name = _NOT_NAME.sub("_", str(action))
    if not 1 <= len(name) <= 64:
        raise _from_native(
            "invalid_request", f"action {action!r} has no tool name of 1 to 64 characters"
        )
    return name


def tool_definition(
    action: str,
    description: Optional[str],
    schema: Optional[Mapping[str, Any]],
    format: ToolFormat = "openai",
) -> Dict[str, Any]:
    """The definition of ``action`` as a tool, in ``format``:

    - ``"openai"``: ``{"type": "function", "function": {"name", "description", "parameters"}}``
      (chat completions; the Responses API and the OpenAI Agents SDK take the same members);
    - ``"anthropic"``: ``{"name", "description", "input_schema"}`` (Messages API);
    - ``"mcp"``: ``{"name", "description", "inputSchema"}`` (an MCP ``Tool``).
    """
    name = tool_name(action)
    desc = description or f"IntentRail governed action {action}"
    params: Dict[str, Any] = dict(schema) if schema else {"type": "object"}
    if format == "openai":
        return {"type": "function",
                "function": {"name": name, "description": desc, "parameters": params}}
    if format == "anthropic":
        return {"name": name, "description": desc, "input_schema": params}
    if format == "mcp":
        return {"name": name, "description": desc, "inputSchema": params}
    raise _from_native(
        "invalid_request", f"tool format {format!r} is not one of {', '.join(_FORMATS)}"
    )


def catalog_tools(catalog: Any, format: ToolFormat) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
    """The definitions of every action of ``catalog`` (``GET /v1/actions``) and the map from
    tool name to action. Two actions with one tool name are refused (``invalid_request``)."""
    actions = catalog.get("actions") if isinstance(catalog, Mapping) else None
    names: Dict[str, str] = {}
    defs: List[Dict[str, Any]] = []
    for a in actions if isinstance(actions, list) else []:
        if not isinstance(a, Mapping) or not isinstance(a.get("name"), str):
            continue
        action = a["name"]
        name = tool_name(action)
        prev = names.get(name)
        if prev is not None and prev != action:
            raise _from_native(
                "invalid_request",
                f"actions {prev!r} and {action!r} map to the same tool name {name}",
            )
        names[name] = action
        schema = a.get("schema")
        defs.append(tool_definition(
            action,
            a.get("description") if isinstance(a.get("description"), str) else None,
            schema if isinstance(schema, Mapping) else None,
            format,
        ))
    return defs, names
