"""IntentRail SDK: every call of a governed tool is an action executed by the rail.

    from intentrail import Rail, governed

    rail = Rail.from_env()   # INTENTRAIL_URL, INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID

    @governed("money.refund", rail=rail)
    def refund(payment_id: str, amount: int, currency: str = "usd") -> None:
        \"\"\"Refund a payment.\"\"\"   # the body never runs: the call is the governed action

    result = refund(payment_id="pay_1", amount=5000)

The SDK canonicalizes and hashes the params locally, obtains a permit, verifies it against the
tenant's JWKS and its own hash, executes it and returns a :class:`Result`; refusals raise the
exceptions of :mod:`intentrail.exceptions`.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Dict, Optional, Union, cast

from . import _native
from ._rail import (
    Permit,
    Rail,
    Result,
    canonicalize,
    canonicalize_json,
    payload_hash,
    verify_permit,
    verify_receipts,
)
from ._tools import ToolFormat, tool_definition, tool_name
from .exceptions import (
    ApprovalPending,
    AuthenticationError,
    DownstreamError,
    IntentRailError,
    InvalidRequest,
    PermitRejected,
    PolicyDenied,
    RailUnavailable,
    ReceiptInvalid,
    SchemaInvalid,
)

__version__: str = _native.__version__

__all__ = [
    "Rail",
    "Result",
    "Permit",
    "governed",
    "tool_name",
    "tool_definition",
    "ToolFormat",
    "canonicalize",
    "canonicalize_json",
    "payload_hash",
    "verify_permit",
    "verify_receipts",
    "IntentRailError",
    "PolicyDenied",
    "ApprovalPending",
    "SchemaInvalid",
    "PermitRejected",
    "DownstreamError",
    "RailUnavailable",
    "AuthenticationError",
    "InvalidRequest",
    "ReceiptInvalid",
]

if TYPE_CHECKING:
    from typing import Protocol, overload

    from typing_extensions import ParamSpec

    _P = ParamSpec("_P")

    class _Governs(Protocol):
        """What ``governed(...)`` returns, for type checkers: a decorator that keeps the
        parameters and makes the call return :class:`Result` (awaitable for ``async def``)."""

        @overload
        def __call__(
            self, fn: Callable[_P, Coroutine[Any, Any, Any]]
        ) -> Callable[_P, Coroutine[Any, Any, Result]]: ...

        @overload
        def __call__(self, fn: Callable[_P, Any]) -> Callable[_P, Result]: ...

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """``fn``'s signature with its annotations evaluated in ``fn``'s own module, as
    ``inspect.signature(fn, eval_str=True)`` gives it: a framework that reads the wrapper sees
    types, never strings it would have to evaluate in this module's namespace (under ``from
    __future__ import annotations`` every annotation is a string). An annotation that cannot
    be evaluated yet (a name defined later) leaves them all as written."""
    try:
        return inspect.signature(fn, eval_str=True)
    except Exception:  # noqa: BLE001 - any error of user code evaluating its annotations
        return inspect.signature(fn)


def _annotations_of(sig: inspect.Signature) -> Dict[str, Any]:
    """``__annotations__`` for ``sig``: its parameters' annotations, then ``return``."""
    out = {n: p.annotation for n, p in sig.parameters.items() if p.annotation is not p.empty}
    if sig.return_annotation is not sig.empty:
        out["return"] = sig.return_annotation
    return out


def governed(
    action: str,
    rail: Optional[Union[Rail, Callable[[], Rail]]] = None,
    *,
    idempotency_key: Optional[Callable[..., Optional[str]]] = None,
) -> _Governs:
    """Turn a function into the governed action ``action``.

    Calling the decorated function binds its arguments to its parameter names (defaults
    applied; an argument that is ``None`` for a parameter whose default is ``None`` is left
    out, as an absent optional field), sends them as the action's params through
    :meth:`Rail.act` (``await rail.aact`` for ``async def``) and returns the :class:`Result`.
    The function's body never runs. Name, docstring, ``__wrapped__`` and parameters are kept,
    so agent frameworks build the same tool definition as for the undecorated function: the
    signature and ``__annotations__`` carry the parameters' annotations evaluated in the
    function's own module (as ``inspect.signature(fn, eval_str=True)``), so ``from __future__
    import annotations`` changes nothing a framework infers. The return annotation is
    :class:`Result`, what the call returns, whatever the function declared (declare ``->
    None``: type checkers then accept the empty body and see ``Result`` at every call).

    ``rail`` is a :class:`Rail`, a callable returning one, or ``None`` for
    :meth:`Rail.from_env` (created at the first call). ``idempotency_key``, if given, is
    called with the same arguments and returns the key to send (or ``None``).

    Raises :class:`TypeError` at decoration time for ``*args`` / ``**kwargs`` parameters:
    params are named JSON members, so every argument needs a name.
    """
    if not isinstance(action, str) or not action:
        raise TypeError("governed() needs the action name, e.g. @governed(\"money.refund\")")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError("@governed must decorate a function")
        sig = _resolved_signature(fn).replace(return_annotation=Result)
        bad = [("*" if p.kind is inspect.Parameter.VAR_POSITIONAL else "**") + p.name
               for p in sig.parameters.values() if p.kind in _VARIADIC]
        if bad:
            raise TypeError(
                f"@governed({action!r}) cannot govern {fn.__qualname__}: variadic parameters "
                f"({', '.join(bad)}) have no names to send as params; declare each one"
            )
        optional_none = {n for n, p in sig.parameters.items() if p.default is None}
        state: Dict[str, Rail] = {}

        def resolve() -> Rail:
            r = state.get("rail")
            if r is None:
                if rail is None:
                    r = Rail.from_env()
                elif isinstance(rail, Rail):
                    r = rail
                else:
                    r = rail()
                state["rail"] = r
            return r

        def params_of(args: Any, kwargs: Any) -> Dict[str, Any]:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            return {k: v for k, v in bound.arguments.items()
                    if not (v is None and k in optional_none)}

        def key_of(args: Any, kwargs: Any) -> Optional[str]:
            return idempotency_key(*args, **kwargs) if idempotency_key is not None else None

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Result:
                params = params_of(args, kwargs)
                return await resolve().aact(action, params, idempotency_key=key_of(args, kwargs))

            wrapper: Any = async_wrapper
        else:
            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Result:
                params = params_of(args, kwargs)
                return resolve().act(action, params, idempotency_key=key_of(args, kwargs))

            wrapper = sync_wrapper
        wrapper.__signature__ = sig
        wrapper.__annotations__ = _annotations_of(sig)
        wrapper.action = action
        return wrapper

    return cast("_Governs", decorate)
