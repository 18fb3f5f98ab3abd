#!/usr/bin/env python3
"""Measure the SDK's own cost per governed call (not a test; prints numbers).

    python bindings-python/bench/overhead.py path/to/demo.json [N]

1. local work only: everything `act` does besides waiting for the rail — decorator binding,
   JSON text, strict parse, JCS + SHA-256, EdDSA permit verification (+ action/agent/ph
   checks), request/response conversion — timed in a loop with no network.
2. end to end: `Rail.act` against the local rail vs. a bare keep-alive HTTP client making the
   same two requests (intent, execute) with no checks; the difference is the SDK's overhead
   including its HTTP stack.
"""

from __future__ import annotations

import http.client
import inspect
import json
import statistics
import sys
import time
import uuid
from urllib.parse import urlsplit

import intentrail
from intentrail import Rail, _native
from intentrail._rail import _dumps, _result


def per_call(fn, n: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    env = json.load(open(sys.argv[1]))
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rail = Rail(env["rail_url"], env["api_key"], env["agent_id"])
    agent, jwks = rail.agent(), rail.jwks()
    params = {"payment_id": "pay_bench", "amount": 1, "currency": "usd", "reason": "bench"}
    permit = rail.intent("money.refund", params)  # one real permit to verify repeatedly
    now = int(time.time())

    def refund(payment_id: str, amount: int, currency: str = "usd", reason=None): ...
    sig = inspect.signature(refund)

    def local() -> None:
        b = sig.bind("pay_bench", 1, reason="bench")
        b.apply_defaults()
        text = _dumps(dict(b.arguments))
        _native.payload_hash(text)
        intentrail.verify_permit(permit.token, jwks, audience=agent["audience"],
                                 issuer=agent["issuer"], now=now)
    fake = {"status": 200, "headers": {"content-type": "application/json"},
            "body": {"id": "re_1", "status": "succeeded", "amount": 1},
            "receipt": {"id": "rct_1", "seq": 1, "hash": "sha256:x"}}
    print(f"local work per call (bind+json+parse+JCS+SHA-256+EdDSA verify): "
          f"{per_call(local, n * 10):.0f} µs")
    print(f"  of which EdDSA permit verification: "
          f"{per_call(lambda: intentrail.verify_permit(permit.token, jwks, audience=agent['audience'], issuer=agent['issuer'], now=now), n * 10):.0f} µs")
    print(f"  result conversion (_result of a typical answer): {per_call(lambda: _result(fake), n * 10):.1f} µs")

    # End to end.
    u = urlsplit(env["rail_url"])
    conn = http.client.HTTPConnection(u.hostname, u.port)
    hdr = {"Authorization": "Bearer " + env["api_key"], "IntentRail-Agent": env["agent_id"],
           "Content-Type": "application/json"}

    def bare() -> None:
        p = dict(params, payment_id="pay_" + uuid.uuid4().hex[:10])
        conn.request("POST", "/v1/intents", json.dumps({"action": "money.refund", "params": p}), hdr)
        tok = json.loads(conn.getresponse().read())["permit"]
        conn.request("POST", "/v1/execute", json.dumps({"permit": tok, "params": p}), hdr)
        r = conn.getresponse()
        assert r.status == 200, r.read()
        r.read()

    def sdk() -> None:
        rail.act("money.refund", dict(params, payment_id="pay_" + uuid.uuid4().hex[:10]))

    rounds = []
    for _ in range(5):
        b = per_call(bare, n // 5)
        s = per_call(sdk, n // 5)
        rounds.append((b, s))
    b = statistics.median(r[0] for r in rounds)
    s = statistics.median(r[1] for r in rounds)
    print(f"end to end: bare HTTP intent+execute {b/1000:.2f} ms, Rail.act {s/1000:.2f} ms, "
          f"SDK overhead {(s-b)/1000:+.2f} ms per call (median of 5 rounds of {n//5})")


if __name__ == "__main__":
    main()
