"""IntentRail exceptions: one base, one subclass per family of the API's stable ``code``s.

``_BY_CODE`` is the one place where a code is mapped to a class; the native module builds
every exception through :func:`_from_native`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Type

__all__ = [
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


class IntentRailError(Exception):
    """Base of every IntentRail error.

    ``str(error)`` is the error as a model should read it, the same words in every SDK: the
    code, the detail, the rules or limit that decided, every schema violation with its
    pointer, and what calling again can do (never, after fixing the request, later, only
    after checking the outcome, or after a person's approval).

    Attributes:
        code: the stable error code (``policy_denied``, ``schema_invalid``, ...).
        message: the human detail (never a secret).
        receipt_id: the receipt the rail recorded for this refusal, if any.
        status: the HTTP status of the rail's answer, if there was one.
        problem: the whole problem+json document, if the rail sent one.
    """

    def __init__(
        self,
        code: str,
        message: str,
        receipt_id: Optional[str] = None,
        *,
        status: Optional[int] = None,
        problem: Optional[Mapping[str, Any]] = None,
        text: Optional[str] = None,
    ) -> None:
        super().__init__(text if text is not None else f"{code}: {message}")
        self.code = code
        self.message = message
        self.receipt_id = receipt_id
        self.status = status
        self.problem: Dict[str, Any] = dict(problem or {})


class PolicyDenied(IntentRailError):
    """A policy or a stateful limit refused the action (``policy_denied``, ``rate_limited``).

    ``policy_ids`` names the rules that decided (or the limit, for ``rate_limited``).
    """

    def __init__(self, code: str, message: str, receipt_id: Optional[str] = None, *,
                 policy_ids: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(code, message, receipt_id, **kw)
        self.policy_ids: List[str] = list(policy_ids)


class ApprovalPending(IntentRailError):
    """The action waits for a human approval (``approval_pending``); nothing was executed."""

    def __init__(self, code: str, message: str, receipt_id: Optional[str] = None, *,
                 approval_id: Optional[str] = None, policy_ids: Sequence[str] = (),
                 **kw: Any) -> None:
        super().__init__(code, message, receipt_id, **kw)
        self.approval_id = approval_id
        self.policy_ids: List[str] = list(policy_ids)


class SchemaInvalid(IntentRailError):
    """The params do not match the action's schema; ``violations`` lists every one."""

    def __init__(self, code: str, message: str, receipt_id: Optional[str] = None, *,
                 violations: Sequence[Any] = (), **kw: Any) -> None:
        super().__init__(code, message, receipt_id, **kw)
        self.violations: List[Any] = list(violations)

    @property
    def fields(self) -> List[str]:
        """The JSON pointers (or field names) the violations name."""
        out: List[str] = []
        for v in self.violations:
            if isinstance(v, Mapping):
                p = v.get("pointer", v.get("path", v.get("instance_path")))
                if isinstance(p, str):
                    out.append(p)
        return out


class PermitRejected(IntentRailError):
    """The permit was refused (by the rail, or by this SDK before executing): invalid,
    expired, already used, issued to another agent, or bound to other params."""


class DownstreamError(IntentRailError):
    """The downstream failed (``downstream_error``) or did not answer in time
    (``downstream_timeout``: the outcome is unknown; never retry blindly)."""


class RailUnavailable(IntentRailError):
    """The rail, its ledger or its credential store is unavailable; nothing was forwarded
    (except for ``ledger_unavailable`` after forwarding, which the detail says)."""


class AuthenticationError(IntentRailError):
    """The API key or agent id was refused (``unauthenticated``, ``forbidden``)."""


class InvalidRequest(IntentRailError):
    """The request itself is wrong: bad JSON, unknown action or endpoint, idempotency key
    reused with other params or still in progress, body too large, no such resource."""


class ReceiptInvalid(IntentRailError):
    """A receipt chain does not verify (``receipt_invalid``)."""


_BY_CODE: Dict[str, Type[IntentRailError]] = {
    "policy_denied": PolicyDenied,
    "rate_limited": PolicyDenied,
    "approval_pending": ApprovalPending,
    "schema_invalid": SchemaInvalid,
    "permit_invalid": PermitRejected,
    "permit_expired": PermitRejected,
    "permit_already_used": PermitRejected,
    "agent_mismatch": PermitRejected,
    "payload_hash_mismatch": PermitRejected,
    "downstream_error": DownstreamError,
    "downstream_timeout": DownstreamError,
    "rail_unavailable": RailUnavailable,
    "ledger_unavailable": RailUnavailable,
    "credential_unavailable": RailUnavailable,
    "unauthenticated": AuthenticationError,
    "forbidden": AuthenticationError,
    "invalid_json": InvalidRequest,
    "invalid_request": InvalidRequest,
    "unknown_action": InvalidRequest,
    "unsupported_endpoint": InvalidRequest,
    "idempotency_conflict": InvalidRequest,
    "request_in_progress": InvalidRequest,
    "payload_too_large": InvalidRequest,
    "not_found": InvalidRequest,
    "receipt_invalid": ReceiptInvalid,
}


def error_class(code: str) -> Type[IntentRailError]:
    """The exception class for a code (:class:`IntentRailError` for ``internal`` and codes
    this SDK does not know)."""
    return _BY_CODE.get(code, IntentRailError)


def _from_native(
    code: str,
    message: str,
    status: Optional[int] = None,
    receipt_id: Optional[str] = None,
    violations: Sequence[Any] = (),
    policy_ids: Sequence[str] = (),
    problem: Optional[Mapping[str, Any]] = None,
    text: Optional[str] = None,
) -> IntentRailError:
    """Build the exception for an error of the native module (or of the Python layer);
    ``text`` is core's rendering of it (computed here for the Python layer's own errors)."""
    if text is None:
        from ._native import explain_error

        text = explain_error(code, message)
    cls = error_class(code)
    kw: Dict[str, Any] = {"status": status, "problem": problem, "text": text}
    if cls is PolicyDenied:
        ids = list(policy_ids)
        if not ids and problem and isinstance(problem.get("limit_id"), str):
            ids = [problem["limit_id"]]
        kw["policy_ids"] = ids
    elif cls is ApprovalPending:
        kw["policy_ids"] = list(policy_ids)
        aid = (problem or {}).get("approval_id")
        kw["approval_id"] = aid if isinstance(aid, str) else None
    elif cls is SchemaInvalid:
        kw["violations"] = list(violations)
    return cls(code, message, receipt_id, **kw)
