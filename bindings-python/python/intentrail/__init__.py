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

from . import _native
from ._governed import Governed, governed
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
from ._tools import ToolFormat, openai_strict_schema, tool_definition, tool_name
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
    "Governed",
    "tool_name",
    "tool_definition",
    "openai_strict_schema",
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
