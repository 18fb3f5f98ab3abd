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
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple

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
    *,
    strict: bool = False,
) -> Dict[str, Any]:
    """The definition of ``action`` as a tool, in ``format``:

    - ``"openai"``: ``{"type": "function", "function": {"name", "description", "parameters"}}``
      (chat completions; the Responses API and the OpenAI Agents SDK take the same members).
      With ``strict=True`` the function also says ``"strict"``: ``true`` with the parameters
      of :func:`openai_strict_schema` when the schema can be expressed in OpenAI's strict
      mode, ``false`` with the rail's schema as it is when it cannot;
    - ``"anthropic"``: ``{"name", "description", "input_schema"}`` (Messages API);
    - ``"mcp"``: ``{"name", "description", "inputSchema"}`` (an MCP ``Tool``).
    """
    name = tool_name(action)
    desc = description or f"IntentRail governed action {action}"
    params: Dict[str, Any] = dict(schema) if schema else {"type": "object"}
    if format == "openai":
        function: Dict[str, Any] = {"name": name, "description": desc, "parameters": params}
        if strict:
            converted = openai_strict_schema(params)
            function["strict"] = converted is not None
            if converted is not None:
                function["parameters"] = converted
        return {"type": "function", "function": function}
    if format == "anthropic":
        return {"name": name, "description": desc, "input_schema": params}
    if format == "mcp":
        return {"name": name, "description": desc, "inputSchema": params}
    raise _from_native(
        "invalid_request", f"tool format {format!r} is not one of {', '.join(_FORMATS)}"
    )


class CatalogTools:
    """The tools of one catalog: their definitions, the action each tool name stands for, and
    the rail's schema of each tool published in OpenAI strict mode (whose calls carry ``null``
    for the optional members the model left out)."""

    def __init__(self) -> None:
        self.defs: List[Dict[str, Any]] = []
        self.actions: Dict[str, str] = {}
        self.strict: Dict[str, Mapping[str, Any]] = {}


def action_names(actions: Iterable[Any]) -> List[str]:
    """The action names of ``actions``: names, or functions decorated with ``@governed``."""
    out = []
    for a in actions:
        name = a if isinstance(a, str) else getattr(a, "action", None)
        if not isinstance(name, str):
            raise _from_native(
                "invalid_request", f"{a!r} is neither an action name nor a @governed function"
            )
        out.append(name)
    return out


def catalog_entries(catalog: Any, only: Optional[Iterable[Any]] = None) -> List[Mapping[str, Any]]:
    """The actions of ``catalog`` (``GET /v1/actions``), or those named in ``only`` (names or
    ``@governed`` functions), in the catalog's order. A name the catalog lacks is refused
    (``unknown_action``): a tool the agent was meant to have must not vanish silently."""
    listed = catalog.get("actions") if isinstance(catalog, Mapping) else None
    entries = [a for a in listed if isinstance(a, Mapping) and isinstance(a.get("name"), str)] \
        if isinstance(listed, list) else []
    if only is None:
        return entries
    wanted = action_names(only)
    missing = sorted(set(wanted) - {a["name"] for a in entries})
    if missing:
        raise _from_native(
            "unknown_action", f"the agent's catalog has no action {', '.join(missing)}"
        )
    return [a for a in entries if a["name"] in wanted]


def catalog_tools(catalog: Any, format: ToolFormat, *, strict: bool = False,
                  only: Optional[Iterable[Any]] = None) -> CatalogTools:
    """The definitions of the actions of ``catalog`` (``GET /v1/actions``; all, or those in
    ``only``) and the map from tool name to action. Two actions with one tool name are refused
    (``invalid_request``)."""
    out = CatalogTools()
    names = out.actions
    for a in catalog_entries(catalog, only):
        action = a["name"]
        name = tool_name(action)
        prev = names.get(name)
        if prev is not None and prev != action:
            raise _from_native(
                "invalid_request",
                f"actions {prev!r} and {action!r} map to the same tool name {name}",
            )
        names[name] = action
        schema = a.get("schema") if isinstance(a.get("schema"), Mapping) else None
        d = tool_definition(
            action,
            a.get("description") if isinstance(a.get("description"), str) else None,
            schema,
            format,
            strict=strict,
        )
        if d.get("function", {}).get("strict") and schema is not None:
            out.strict[name] = schema
        out.defs.append(d)
    return out


# -- OpenAI strict mode ------------------------------------------------------------------------
#
# Strict mode (structured outputs) takes a subset of JSON Schema: every object lists all its
# properties in `required` and sets `additionalProperties: false`, and only some keywords are
# accepted. The rail's schema is mapped onto it without changing what the rail accepts: an
# optional property becomes required and nullable, and its `null` is dropped before the call
# (`drop_strict_nulls`); keywords strict mode refuses are left out of the model's copy (the
# rail still enforces them and names the violation). A schema that needs more than that
# (`$ref`, `oneOf`, `allOf`, `not`, conditionals, open objects, untyped arrays) stays
# non-strict. Keywords from OpenAI's "Supported schemas" list (platform.openai.com, guide
# "Structured model outputs").

_STRICT_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "description", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
})
_NOT_STRICT = frozenset({
    "$ref", "$defs", "definitions", "oneOf", "allOf", "not", "if", "then", "else",
    "patternProperties", "dependentSchemas", "prefixItems", "contains",
})
_MAX_STRICT_DEPTH = 32


def openai_strict_schema(schema: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """``schema`` as OpenAI strict mode takes it, or ``None`` when it cannot be expressed
    there (the tool is then published non-strict with the rail's schema)."""
    if schema.get("type") != "object":
        return None
    return _strict_node(schema, 0)


def _strict_node(node: Any, depth: int) -> Optional[Dict[str, Any]]:
    if not isinstance(node, Mapping) or depth > _MAX_STRICT_DEPTH or _NOT_STRICT & node.keys():
        return None
    out: Dict[str, Any] = {k: v for k, v in node.items() if k in _STRICT_KEYWORDS}
    types = node.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        props = node.get("properties")
        if not isinstance(props, Mapping) or not props:
            return None  # a free-form object cannot be strict
        required = _required(node)
        converted: Dict[str, Any] = {}
        for name, sub in props.items():
            c = _strict_node(sub, depth + 1)
            if c is None:
                return None
            converted[name] = c if name in required or accepts_null(sub) else {
                "anyOf": [c, {"type": "null"}]}
        out["properties"] = converted
        out["required"] = list(converted)
        out["additionalProperties"] = False
    if types == "array" or (isinstance(types, list) and "array" in types):
        items = _strict_node(node.get("items"), depth + 1)
        if items is None:
            return None
        out["items"] = items
    if "anyOf" in node:
        branches = [_strict_node(b, depth + 1) for b in node["anyOf"]] \
            if isinstance(node["anyOf"], list) else [None]
        if any(b is None for b in branches):
            return None
        out["anyOf"] = branches
    elif types is None and "enum" not in node and "const" not in node:
        return None  # strict mode needs a type
    return out


def _required(schema: Mapping[str, Any]) -> List[Any]:
    r = schema.get("required")
    return r if isinstance(r, list) else []


def accepts_null(schema: Any) -> bool:
    """Whether ``schema`` itself lets ``null`` through (by type, enum, const or a branch)."""
    if not isinstance(schema, Mapping):
        return False
    t = schema.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    if "const" in schema and schema["const"] is None:
        return True
    if isinstance(schema.get("enum"), list) and None in schema["enum"]:
        return True
    return any(accepts_null(b) for b in schema.get("anyOf") or [] if isinstance(b, Mapping))


def drop_strict_nulls(args: Any, schema: Mapping[str, Any]) -> Any:
    """``args`` of a strict-mode call without the ``null`` it must send for an optional
    property the rail's ``schema`` does not let be ``null`` (the model left it out)."""
    props = schema.get("properties")
    if isinstance(args, dict) and isinstance(props, Mapping):
        required = _required(schema)
        return {
            k: drop_strict_nulls(v, props.get(k, {}))
            for k, v in args.items()
            if not (v is None and k not in required and not accepts_null(props.get(k)))
        }
    items = schema.get("items")
    if isinstance(args, list) and isinstance(items, Mapping):
        return [drop_strict_nulls(v, items) for v in args]
    return args
