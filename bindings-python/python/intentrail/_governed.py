"""``@governed``: a function whose call is a governed action, and what frameworks read from
it (its signature, its tool definition with the rail's schema)."""

from __future__ import annotations

import functools
import inspect
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Coroutine,
    Dict,
    Literal,
    Mapping,
    Optional,
    Protocol,
    TypeVar,
    Union,
    cast,
)

from ._rail import Rail, Result
from ._tools import ToolFormat, tool_definition

_R = TypeVar("_R", covariant=True)

if TYPE_CHECKING:
    from typing import overload

    from typing_extensions import ParamSpec

    _P = ParamSpec("_P")

    class Governed(Protocol[_P, _R]):
        """A function decorated with :func:`governed`: calling it performs the action and
        returns :class:`Result` (an awaitable of it for ``async def``)."""

        action: str

        def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R: ...

        def input_schema(self) -> Dict[str, Any]: ...

        def tool_definition(self, format: ToolFormat = "openai", *,
                            strict: bool = False) -> Dict[str, Any]: ...

    class _Governs(Protocol):
        """What ``governed(...)`` returns, for type checkers: a decorator that keeps the
        parameters and makes the call return :class:`Result` (awaitable for ``async def``)."""

        @overload
        def __call__(
            self, fn: Callable[_P, Coroutine[Any, Any, Any]]
        ) -> Governed[_P, Coroutine[Any, Any, Result]]: ...

        @overload
        def __call__(self, fn: Callable[_P, Any]) -> Governed[_P, Result]: ...
else:
    class Governed(Protocol):
        """A function decorated with :func:`governed`: ``action``, ``input_schema()``,
        ``tool_definition(format, strict=)``; calling it performs the action. (Type checkers
        see it generic in the parameters and the result: use it in annotations.)"""

        action: str

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


Schema = Union[Mapping[str, Any], Literal["catalog"]]


def governed(
    action: str,
    rail: Optional[Union[Rail, Callable[[], Rail]]] = None,
    *,
    idempotency_key: Optional[Callable[..., Optional[str]]] = None,
    schema: Schema = "catalog",
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

    A schema inferred from a signature is not the one the rail validates (defaults make
    required members optional, constraints are lost), so the decorated function also gives
    its tool with the rail's schema: ``input_schema()`` and ``tool_definition(format,
    strict=)`` (see :func:`intentrail.tool_definition`), and the framework adapters take it
    in ``actions=``. ``schema`` is where that schema comes from: ``"catalog"`` (the default:
    the rail's catalog, ``GET /v1/actions``, read at first use) or a JSON Schema given here.
    The description is the function's docstring, else the catalog's.

    ``rail`` is a :class:`Rail`, a callable returning one, or ``None`` for
    :meth:`Rail.from_env` (created at the first call). ``idempotency_key``, if given, is
    called with the same arguments and returns the key to send (or ``None``).

    Raises :class:`TypeError` at decoration time for ``*args`` / ``**kwargs`` parameters:
    params are named JSON members, so every argument needs a name.
    """
    if not isinstance(action, str) or not action:
        raise TypeError("governed() needs the action name, e.g. @governed(\"money.refund\")")
    if not (schema == "catalog" or isinstance(schema, Mapping)):
        raise TypeError('governed(schema=...) is "catalog" or a JSON Schema (a mapping)')

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
        state: Dict[str, Any] = {}

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
            return cast(Rail, r)

        def entry() -> Mapping[str, Any]:
            """The catalog's entry of the action (read once)."""
            e = state.get("entry")
            if e is None:
                e = state["entry"] = resolve().catalog_entry(action)
            return cast(Mapping[str, Any], e)

        def input_schema() -> Dict[str, Any]:
            s = schema if isinstance(schema, Mapping) else entry().get("schema")
            return dict(s) if isinstance(s, Mapping) else {"type": "object"}

        def definition(format: ToolFormat = "openai", *, strict: bool = False) -> Dict[str, Any]:
            doc = inspect.getdoc(fn)
            if not doc and not isinstance(schema, Mapping):
                d = entry().get("description")
                doc = d if isinstance(d, str) else None
            return tool_definition(action, doc, input_schema(), format, strict=strict)

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
        wrapper.input_schema = input_schema
        wrapper.tool_definition = definition
        return cast(Callable[..., Any], wrapper)

    return cast("_Governs", decorate)
