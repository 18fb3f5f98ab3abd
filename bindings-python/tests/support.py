"""Helpers the SDK tests share (pytest puts this folder on `sys.path`)."""

from __future__ import annotations

import uuid
from typing import Any, Dict, List


def pid() -> str:
    """A fresh payment id, to find this test's requests at the demo downstream."""
    return "pay_" + uuid.uuid4().hex[:12]


def received(demo: Any, payment_id: str) -> List[Dict[str, Any]]:
    """What the demo downstream received for `payment_id`."""
    return [r for r in demo.requests() if payment_id in r["body"]]
