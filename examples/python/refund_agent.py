#!/usr/bin/env python3
"""A small refund agent on IntentRail.

Its tools are governed actions: calling one asks the rail for a permit bound to the exact
params, checks the permit locally, and lets the rail execute it. The agent never holds the
payments API's key.

    python refund_agent.py demo.json      # the file `intentrail demo --env-file demo.json` wrote
    python refund_agent.py                # or INTENTRAIL_URL, INTENTRAIL_API_KEY, INTENTRAIL_AGENT_ID
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Optional

from intentrail import IntentRailError, PolicyDenied, Rail, governed


def connect(argv: list) -> Rail:
    if len(argv) > 1:
        with open(argv[1], encoding="utf-8") as f:
            env = json.load(f)
        return Rail(env["rail_url"], env["api_key"], env["agent_id"])
    return Rail.from_env()


try:
    rail = connect(sys.argv)
except (OSError, KeyError, ValueError, IntentRailError) as e:
    sys.exit(f"usage: refund_agent.py [demo-env.json]  (or set INTENTRAIL_URL, INTENTRAIL_API_KEY, "
             f"INTENTRAIL_AGENT_ID): {e}")


@governed("money.refund", rail=rail)
def refund(payment_id: str, amount: int, currency: str = "usd", reason: Optional[str] = None) -> None:
    """Refund (part of) a payment. `amount` is in the currency's minor unit (cents)."""


def main() -> int:
    payment = "pay_" + uuid.uuid4().hex[:10]

    result = refund(payment, 2500, reason="damaged item")
    print(f"refund of 25.00 usd on {payment}: downstream status {result.status}, "
          f"receipt {result.receipt_id}")
    print(f"  downstream answered: {json.dumps(result.body, sort_keys=True)}")

    try:
        refund(payment, 50_000)
        print("refund of 500.00 usd: unexpectedly allowed")
        return 1
    except PolicyDenied as e:
        print(f"refund of 500.00 usd: denied by {', '.join(e.policy_ids)} (receipt {e.receipt_id})")
    except IntentRailError as e:
        print(f"refund of 500.00 usd: refused: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
