"""The Pythonic layer over ``intentrail._native``: :class:`Rail`, :class:`Result`,
:class:`Permit` and the core helpers. No rule lives here: canonicalization, hashing and
verification are the Rust core's; this module converts types and errors only."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from ._tools import (
    CatalogTools,
    ToolFormat,
    catalog_entries,
    catalog_tools,
    drop_strict_nulls,
)
from .exceptions import _from_native

__all__ = [
    "Rail",
    "Result",
    "Permit",
    "canonicalize",
    "canonicalize_json",
    "payload_hash",
    "verify_permit",
    "verify_receipts",
]

JSONDoc = Union[str, bytes]


def _dumps(obj: Any) -> str:
    """JSON text of ``obj`` for the native side. Non-finite floats are refused here
    (``invalid_json``); lone surrogates, out-of-range integers and duplicate keys (e.g.
    ``{1: ..., "1": ...}``) are refused by the core's strict parser."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError as e:  # NaN / Infinity
        raise _from_native("invalid_json", f"non_finite_number: {e}") from None


def _params(params: Any) -> str:
    if not isinstance(params, Mapping):
        raise _from_native("invalid_request", "params must be a mapping (a JSON object)")
    return _dumps(dict(params))


def _tool_call(tools: CatalogTools, name: str, args: Any) -> Tuple[str, JSONDoc]:
    """The action of tool ``name`` and the params of a model's call of it, for the native side:
    JSON text as it came (the core parses it strictly) or a mapping, less the ``null`` a
    strict-mode tool sends for an optional member the model left out."""
    action = tools.actions.get(name)
    if action is None:
        raise _from_native("unknown_action", f"no action has the tool name {name!r}")
    schema = tools.strict.get(name)
    if schema is None:
        return action, args if isinstance(args, (str, bytes)) else _params(args)
    if isinstance(args, (str, bytes)):
        # Parsed strictly by the core (duplicate keys refused), then read back.
        args = json.loads(_native.canonicalize(args))
    return action, _params(drop_strict_nulls(args, schema))


def canonicalize(obj: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON-compatible Python value (I-JSON enforced)."""
    return _native.canonicalize(_dumps(obj))


def canonicalize_json(doc: JSONDoc) -> bytes:
    """RFC 8785 canonical bytes of JSON text, strictly parsed (duplicate keys, lone
    surrogates, integers beyond 2**53-1 and the like are refused with ``invalid_json``)."""
    return _native.canonicalize(doc)


def payload_hash(obj: Any) -> str:
    """``sha256:`` + base64url(SHA-256(JCS(obj))): the ``ph`` a permit binds."""
    return _native.payload_hash(_dumps(obj))


def _doc(x: Any) -> JSONDoc:
    return x if isinstance(x, (str, bytes)) else _dumps(x)


def verify_permit(
    token: str,
    jwks: Union[Mapping[str, Any], JSONDoc],
    *,
    audience: str,
    issuer: str,
    now: Optional[int] = None,
) -> Dict[str, Any]:
    """Verify a permit strictly (EdDSA, header, key, issuer, audience, time) and return its
    claims; raises :class:`~intentrail.exceptions.PermitRejected` otherwise."""
    when = int(time.time()) if now is None else int(now)
    return _native.verify_permit(token, _doc(jwks), audience, issuer, when)


def verify_receipts(
    receipts: Union[Sequence[Mapping[str, Any]], JSONDoc],
    jwks: Union[Mapping[str, Any], JSONDoc],
) -> Dict[str, Any]:
    """Verify a receipt chain from seq 1 (hashes, links, signatures); returns
    ``{count, last_seq, last_hash}`` or raises
    :class:`~intentrail.exceptions.ReceiptInvalid` naming the first bad seq."""
    docs = receipts if isinstance(receipts, (str, bytes)) else _dumps(list(receipts))
    return _native.verify_receipts(docs, _doc(jwks))


@dataclass(frozen=True)
class Permit:
    """A permit the rail issued. ``claims`` were decoded, not verified, by :meth:`Rail.intent`:
    :meth:`Rail.act` verifies them before executing."""

    token: str
    claims: Dict[str, Any]
    permit_id: str
    payload_hash: str
    expires_at: int
    receipt_id: Optional[str] = None

    def __str__(self) -> str:
        return self.token


@dataclass(frozen=True)
class Result:
    """The answer of a governed execution: the downstream's own ``status``, ``headers`` and
    ``body`` (parsed JSON when it was JSON), and the rail's signed ``receipt``."""

    status: int
    headers: Dict[str, str]
    body: Any
    receipt: Dict[str, Any]
    permit_id: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Whether the downstream answered 2xx."""
        return 200 <= self.status < 300

    @property
    def receipt_id(self) -> Optional[str]:
        """The execution receipt's id."""
        rid = self.receipt.get("id")
        return rid if isinstance(rid, str) else None

    def to_dict(self) -> Dict[str, Any]:
        """``{"status", "body", "receipt_id", "permit_id"}``: the result as plain JSON values
        (the headers and the full receipt stay on the object)."""
        return {"status": self.status, "body": self.body,
                "receipt_id": self.receipt_id, "permit_id": self.permit_id}

    def for_model(self) -> str:
        """What a tool hands back to a model: ``{"status", "body", "receipt_id"}`` as compact
        JSON text (the downstream's answer and where it is recorded; not the receipt's
        signature or the headers). The Kotlin SDK's Spring AI tools answer the same."""
        return json.dumps({"status": self.status, "body": self.body,
                           "receipt_id": self.receipt_id},
                          ensure_ascii=False, separators=(",", ":"))


def _result(d: Mapping[str, Any]) -> Result:
    return Result(
        status=int(d["status"]),
        headers=dict(d.get("headers") or {}),
        body=d.get("body"),
        receipt=dict(d.get("receipt") or {}),
        permit_id=d.get("permit_id"),
    )


def _permit(d: Mapping[str, Any]) -> Permit:
    if d.get("status") == "approval_pending":
        raise _from_native(
            "approval_pending",
            f"the action waits for approval {d.get('approval_id')}",
            202,
            d.get("receipt_id"),
            (),
            list(d.get("policy_ids") or ()),
            dict(d),
        )
    return Permit(
        token=d["permit"],
        claims=dict(d["claims"]),
        permit_id=d["permit_id"],
        payload_hash=d["payload_hash"],
        expires_at=int(d["expires_at"]),
        receipt_id=d.get("receipt_id"),
    )


def _token(permit: Union[Permit, str]) -> str:
    return permit.token if isinstance(permit, Permit) else permit


class Rail:
    """The client of one agent. Thread-safe; share one per process.

    Sync methods release the GIL while they wait on the network or verify signatures; the
    ``a``-prefixed methods are awaitables for asyncio (resolved on the SDK's own runtime, not
    in a thread per call).
    """

    def __init__(self, url: str, api_key: str, agent_id: str, *, timeout: float = 30.0) -> None:
        self._native = _native.NativeRail(url, api_key, agent_id, float(timeout))
        # The tools of the last tool_definitions() (replaced whole, never mutated).
        self._tools = CatalogTools()

    @classmethod
    def from_env(cls, *, timeout: Optional[float] = None) -> "Rail":
        """A client from ``INTENTRAIL_URL``, ``INTENTRAIL_API_KEY``, ``INTENTRAIL_AGENT_ID``
        (and ``INTENTRAIL_TIMEOUT``, seconds, if set)."""
        missing = [n for n in ("INTENTRAIL_URL", "INTENTRAIL_API_KEY", "INTENTRAIL_AGENT_ID")
                   if not os.environ.get(n)]
        if missing:
            raise _from_native("invalid_request", "missing environment variables: " + ", ".join(missing))
        if timeout is None:
            raw = os.environ.get("INTENTRAIL_TIMEOUT")
            try:
                timeout = float(raw) if raw else 30.0
            except ValueError:
                raise _from_native("invalid_request", "INTENTRAIL_TIMEOUT must be a number of seconds") from None
        return cls(os.environ["INTENTRAIL_URL"], os.environ["INTENTRAIL_API_KEY"],
                   os.environ["INTENTRAIL_AGENT_ID"], timeout=timeout)

    @property
    def url(self) -> str:
        """The rail URL."""
        return self._native.url

    @property
    def agent_id(self) -> str:
        """The agent id."""
        return self._native.agent_id

    @property
    def timeout(self) -> float:
        """The per-request timeout, in seconds."""
        return self._native.timeout

    def __repr__(self) -> str:
        return f"Rail(url={self.url!r}, agent_id={self.agent_id!r})"

    # -- sync ------------------------------------------------------------------------------

    def agent(self) -> Dict[str, Any]:
        """``GET /v1/agent``: ``{agent_id, tenant, issuer, audience, jwks_url}``."""
        return self._native.agent()

    def jwks(self) -> Dict[str, Any]:
        """The tenant's JWKS (cached; reloaded when a permit names an unknown key)."""
        return self._native.jwks()

    def intent(self, action: str, params: Mapping[str, Any], *,
               idempotency_key: Optional[str] = None) -> Permit:
        """``POST /v1/intents``: a permit for ``action`` with ``params`` (not executed).
        Raises :class:`~intentrail.exceptions.ApprovalPending` when a human must approve."""
        return _permit(self._native.intent(action, _params(params), idempotency_key))

    def execute(self, permit: Union[Permit, str], params: Mapping[str, Any]) -> Result:
        """``POST /v1/execute``: run a permit with exactly these params."""
        return _result(self._native.execute(_token(permit), _params(params)))

    def act(self, action: str, params: Mapping[str, Any], *,
            idempotency_key: Optional[str] = None) -> Result:
        """The governed path: intent, then local verification of the permit (signature,
        issuer, audience, time, action, agent, and that ``ph`` is the hash of these params),
        then execute. A permit that fails a check is refused before anything runs."""
        return _result(self._native.act(action, _params(params), idempotency_key))

    def actions(self) -> Any:
        """``GET /v1/actions``: the catalog with each action's JSON Schema."""
        return self._native.actions()

    def receipt(self, receipt_id: str) -> Dict[str, Any]:
        """``GET /v1/receipts/{id}``."""
        return self._native.receipt(receipt_id)

    def receipts(self, after: int = 0, limit: Optional[int] = None) -> Dict[str, Any]:
        """``GET /v1/receipts?after=``: ``{receipts, next_after}``."""
        return self._native.receipts(after, limit)

    # -- tools -----------------------------------------------------------------------------

    def tool_definitions(self, format: ToolFormat = "openai", *, strict: bool = False,
                         actions: Optional[Iterable[Any]] = None) -> List[Dict[str, Any]]:
        """The catalog as LLM tool definitions in ``format`` (``"openai"``, ``"anthropic"`` or
        ``"mcp"``; see :func:`intentrail.tool_definition`), each with the rail's own JSON
        Schema of the action; ``strict=True`` publishes OpenAI tools in strict mode where the
        schema allows it (:func:`intentrail.openai_strict_schema`). ``actions`` keeps only
        those actions (names or ``@governed`` functions; one the catalog lacks is
        ``unknown_action``). Remembers the tool names for :meth:`action_for_tool` and
        :meth:`call_tool`."""
        return self._remember(catalog_tools(self.actions(), format, strict=strict, only=actions))

    def catalog_entry(self, action: str) -> Dict[str, Any]:
        """The catalog's entry of ``action``: ``{"name", "description", "schema", ...}``
        (``unknown_action`` if the agent's catalog lacks it)."""
        return dict(catalog_entries(self.actions(), [action])[0])

    def _remember(self, tools: CatalogTools) -> List[Dict[str, Any]]:
        self._tools = tools
        return tools.defs

    def action_for_tool(self, name: str) -> Optional[str]:
        """The action a tool name of the last :meth:`tool_definitions` stands for, or ``None``."""
        return self._tools.actions.get(name)

    def call_tool(self, name: str, args: Union[Mapping[str, Any], str, bytes], *,
                  idempotency_key: Optional[str] = None) -> Result:
        """Run a model's tool call: ``name`` from :meth:`tool_definitions` (the catalog is
        loaded on first use), ``args`` a mapping or the JSON text the model produced (parsed
        strictly by the core: a duplicate key is refused, not resolved). Pass the framework's
        tool-call id as ``idempotency_key`` so a retried call never runs twice."""
        if not self._tools.actions:
            self.tool_definitions()
        return self._run_tool(self._tools, name, args, idempotency_key)

    def _run_tool(self, tools: CatalogTools, name: str,
                 args: Union[Mapping[str, Any], str, bytes],
                 idempotency_key: Optional[str] = None) -> Result:
        """:meth:`call_tool` of the tool ``name`` of ``tools`` (for adapters holding their own
        :class:`CatalogTools`)."""
        action, params = _tool_call(tools, name, args)
        return _result(self._native.act(action, params, idempotency_key))

    # -- async -----------------------------------------------------------------------------

    async def atool_definitions(self, format: ToolFormat = "openai", *, strict: bool = False,
                                actions: Optional[Iterable[Any]] = None) -> List[Dict[str, Any]]:
        """Awaitable :meth:`tool_definitions`."""
        return self._remember(
            catalog_tools(await self.aactions(), format, strict=strict, only=actions))

    async def acall_tool(self, name: str, args: Union[Mapping[str, Any], str, bytes], *,
                         idempotency_key: Optional[str] = None) -> Result:
        """Awaitable :meth:`call_tool`."""
        if not self._tools.actions:
            await self.atool_definitions()
        return await self._arun_tool(self._tools, name, args, idempotency_key)

    async def _arun_tool(self, tools: CatalogTools, name: str,
                        args: Union[Mapping[str, Any], str, bytes],
                        idempotency_key: Optional[str] = None) -> Result:
        """Awaitable :meth:`_run_tool`."""
        action, params = _tool_call(tools, name, args)
        return _result(await self._native.act_async(action, params, idempotency_key))

    async def aintent(self, action: str, params: Mapping[str, Any], *,
                      idempotency_key: Optional[str] = None) -> Permit:
        """Awaitable :meth:`intent`."""
        return _permit(await self._native.intent_async(action, _params(params), idempotency_key))

    async def aexecute(self, permit: Union[Permit, str], params: Mapping[str, Any]) -> Result:
        """Awaitable :meth:`execute`."""
        return _result(await self._native.execute_async(_token(permit), _params(params)))

    async def aact(self, action: str, params: Mapping[str, Any], *,
                   idempotency_key: Optional[str] = None) -> Result:
        """Awaitable :meth:`act`."""
        return _result(await self._native.act_async(action, _params(params), idempotency_key))

    async def aactions(self) -> Any:
        """Awaitable :meth:`actions`."""
        return await self._native.actions_async()

    async def areceipt(self, receipt_id: str) -> Dict[str, Any]:
        """Awaitable :meth:`receipt`."""
        return await self._native.receipt_async(receipt_id)

