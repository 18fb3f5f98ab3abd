"""End to end against the real `intentrail demo` rail: governed tools, refusals, tampering,
parallelism, the decorator's contract."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import time
import typing
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

import pytest

import intentrail
from intentrail import (
    ApprovalPending,
    AuthenticationError,
    PermitRejected,
    PolicyDenied,
    Rail,
    RailUnavailable,
    Result,
    SchemaInvalid,
    governed,
)
from support import pid, received



def test_a_decorated_sync_tool_performs_a_governed_refund(demo: Any, rail: Rail) -> None:
    @governed("money.refund", rail=rail)
    def refund(payment_id: str, amount: int, currency: str = "usd", reason: Optional[str] = None) -> dict:
        """Refund a payment."""
        raise AssertionError("the body of a governed tool never runs")

    p = pid()
    r = refund(p, 500)
    assert isinstance(r, Result)
    assert r.status == 200 and r.ok
    assert isinstance(r.body, dict)
    assert r.receipt["kind"] == "execution" and r.receipt["outcome"] == "success"
    assert r.receipt["payload_hash"] == intentrail.payload_hash(
        {"payment_id": p, "amount": 500, "currency": "usd"})
    got = received(demo, p)
    assert len(got) == 1
    assert got[0]["path"] == "/v1/refunds" and got[0]["authorized"]
    assert json.loads(got[0]["body"]) == {"payment_id": p, "amount": 500, "currency": "usd"}
    # The receipt the rail returned is the one it stores, and it verifies with the JWKS.
    assert rail.receipt(r.receipt["id"])["hash"] == r.receipt["hash"]


def test_a_decorated_async_tool_performs_a_governed_refund(demo: Any, rail: Rail) -> None:
    @governed("money.refund", rail=rail)
    async def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund a payment, asynchronously."""
        raise AssertionError("never runs")

    assert inspect.iscoroutinefunction(refund)
    p = pid()
    r = asyncio.run(refund(payment_id=p, amount=700, currency="eur"))
    assert r.status == 200
    got = received(demo, p)
    assert len(got) == 1 and json.loads(got[0]["body"])["currency"] == "eur"


def test_a_denied_refund_raises_policy_denied_naming_the_rule(demo: Any, rail: Rail) -> None:
    @governed("money.refund", rail=rail)
    def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund."""

    p = pid()
    with pytest.raises(PolicyDenied) as e:
        refund(p, 20_000)
    assert e.value.code == "policy_denied"
    assert "refund_cap" in e.value.policy_ids
    assert e.value.receipt_id and e.value.status == 403
    assert received(demo, p) == []
    # The refusal was recorded.
    assert rail.receipt(e.value.receipt_id)["decision"] == "deny"
    # What a model reads: the code, the rule, and that calling again will not help.
    text = str(e.value)
    assert text.startswith("policy_denied: "), text
    assert "Rules: refund_cap" in text, text
    assert text.endswith("Calling again with the same request will be refused again."), text


def test_bad_arguments_raise_schema_invalid_listing_the_fields(demo: Any, rail: Rail) -> None:
    @governed("money.refund", rail=rail)
    def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund."""

    p = pid()
    with pytest.raises(SchemaInvalid) as e:
        refund(p, -5, currency="USD")
    assert e.value.code == "schema_invalid"
    assert {"/amount", "/currency"} <= set(e.value.fields)
    assert all("message" in v for v in e.value.violations)
    # What a model reads names every field with its reason, and says to fix them.
    text = str(e.value)
    for v in e.value.violations:
        assert f"{v['pointer']}: {v['message']}" in text, text
    assert text.endswith("Fix the request as described, then call again."), text

    @governed("money.refund", rail=rail)
    def refund_extra(payment_id: str, amount: int, note: str) -> dict:
        """An extra field the schema does not allow."""

    with pytest.raises(SchemaInvalid) as e2:
        refund_extra(p, 5, "hi")
    assert "/note" in e2.value.fields
    assert received(demo, p) == []


def test_a_permit_bound_to_other_params_is_refused_before_execute(demo: Any, proxy: Any) -> None:
    # A tampering rail: it asks for a permit over other params than the SDK sent.
    def tamper(path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        if path == "/v1/intents":
            body["params"]["amount"] = 9_999
        return body

    proxy.rewrite = tamper
    evil = Rail(proxy.url, demo.api_key, demo.agent_id)

    @governed("money.refund", rail=evil)
    def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund."""

    p = pid()
    with pytest.raises(PermitRejected) as e:
        refund(p, 100)
    assert e.value.code == "payload_hash_mismatch"
    assert proxy.count("/v1/intents") == 1
    assert proxy.count("/v1/execute") == 0
    assert received(demo, p) == []


def test_a_permit_for_another_action_is_refused_before_execute(demo: Any, proxy: Any) -> None:
    def swap(path: str, body: Dict[str, Any]) -> Dict[str, Any]:
        if path == "/v1/intents":
            body["action"] = "money.payment"
            body["params"] = {"amount": 100, "currency": "usd", "customer": "cus_evil"}
        return body

    proxy.rewrite = swap
    evil = Rail(proxy.url, demo.api_key, demo.agent_id)
    p = pid()
    with pytest.raises(PermitRejected) as e:
        evil.act("money.refund", {"payment_id": p, "amount": 100, "currency": "usd"})
    assert e.value.code == "permit_invalid"
    assert proxy.count("/v1/execute") == 0
    assert received(demo, p) == []


def test_ten_threads_make_progress_in_parallel(demo: Any, proxy: Any) -> None:
    # Every request to the rail takes >= 0.3 s (the proxy, in this process, sleeps: it needs
    # the GIL to serve, so a call holding the GIL while it waits would never finish).
    proxy.delay = 0.3
    slow = Rail(proxy.url, demo.api_key, demo.agent_id)
    slow.agent(), slow.jwks()  # warm the caches: each act is then 2 slow round trips

    @governed("money.refund", rail=slow)
    def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund."""

    t0 = time.perf_counter()
    refund(pid(), 1)
    one = time.perf_counter() - t0
    ids = [pid() for _ in range(10)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as ex:
        results = list(ex.map(lambda p: refund(p, 1), ids))
    ten = time.perf_counter() - t0
    assert all(r.status == 200 for r in results)
    print(f"\none governed call {one*1000:.0f} ms; ten in parallel {ten*1000:.0f} ms "
          f"({ten/one:.2f}x one call)")
    assert ten < 3 * one, (one, ten)
    seen = {json.loads(r["body"])["payment_id"] for r in demo.requests()}
    assert set(ids) <= seen


def test_the_gil_is_released_while_a_call_waits(demo: Any, proxy: Any) -> None:
    proxy.delay = 0.4
    slow = Rail(proxy.url, demo.api_key, demo.agent_id)
    slow.agent(), slow.jwks()
    counter = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = counter[0]
        t0 = time.perf_counter()
        slow.act("money.refund", {"payment_id": pid(), "amount": 1, "currency": "usd"})
        elapsed = time.perf_counter() - t0
        spun = counter[0] - before
    finally:
        stop.set()
        t.join()
    assert elapsed >= 0.8
    assert spun > 100_000, spun


def test_async_calls_run_concurrently(demo: Any, proxy: Any) -> None:
    proxy.delay = 0.3
    slow = Rail(proxy.url, demo.api_key, demo.agent_id)
    slow.agent(), slow.jwks()

    @governed("money.refund", rail=slow)
    async def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund."""

    async def main() -> float:
        t0 = time.perf_counter()
        rs = await asyncio.gather(*(refund(pid(), 1) for _ in range(8)))
        assert all(r.status == 200 for r in rs)
        return time.perf_counter() - t0

    assert asyncio.run(main()) < 3 * 0.6 + 0.5


def test_approval_required_raises_approval_pending(demo: Any, rail: Rail) -> None:
    params = {"amount": 5, "currency": "usd", "from_account": "acct_a", "to_account": "acct_b"}
    with pytest.raises(ApprovalPending) as e:
        rail.act("money.transfer", params)
    assert e.value.code == "approval_pending" and e.value.status == 202
    assert e.value.approval_id and e.value.approval_id.startswith("apr_")
    assert "transfers_need_approval" in e.value.policy_ids
    assert e.value.approval_id in str(e.value)
    assert str(e.value).endswith("Nothing was done: a person must approve it first; do not call again until then.")
    with pytest.raises(ApprovalPending):
        rail.intent("money.transfer", params)
    assert not any("acct_b" in r["body"] for r in demo.requests())


def test_intent_then_execute_and_replay_is_refused(demo: Any, rail: Rail) -> None:
    p = pid()
    params = {"payment_id": p, "amount": 3, "currency": "usd"}
    permit = rail.intent("money.refund", params)
    assert permit.claims["ph"] == intentrail.payload_hash(params) == permit.payload_hash
    agent = rail.agent()
    claims = intentrail.verify_permit(permit.token, rail.jwks(), audience=agent["audience"],
                                      issuer=agent["issuer"])
    assert claims == permit.claims
    assert rail.execute(permit, params).status == 200
    with pytest.raises(PermitRejected) as e:
        rail.execute(permit, params)
    assert e.value.code == "permit_already_used"
    assert len(received(demo, p)) == 1


def test_receipts_verify_as_a_chain(demo: Any) -> None:
    env = json.loads(demo.env_file.read_text())
    admin = Rail(demo.rail_url, env["admin_key"], demo.agent_id)
    agent_rail = Rail(demo.rail_url, demo.api_key, demo.agent_id)
    agent_rail.act("money.refund", {"payment_id": pid(), "amount": 2, "currency": "usd"})
    chain = admin.receipts(0, 1000)["receipts"]
    report = intentrail.verify_receipts(chain, agent_rail.jwks())
    assert report["count"] == len(chain) >= 1
    chain[0]["action"] = "money.payment"
    with pytest.raises(intentrail.ReceiptInvalid):
        intentrail.verify_receipts(chain, agent_rail.jwks())


def test_decorated_functions_keep_signature_name_and_doc(rail: Rail) -> None:
    def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund a payment."""
        return {}

    async def arefund(payment_id: str, *, amount: int) -> dict:
        """Async refund."""
        return {}

    g = governed("money.refund", rail=rail)(refund)
    ag = governed("money.refund", rail=rail)(arefund)
    # The parameters as declared; the return annotation is what the call returns.
    assert inspect.signature(g) == inspect.signature(refund, eval_str=True).replace(
        return_annotation=Result)
    assert g.__doc__ == refund.__doc__ and g.__name__ == "refund" and g.__wrapped__ is refund
    assert inspect.signature(ag) == inspect.signature(arefund, eval_str=True).replace(
        return_annotation=Result)
    assert ag.__doc__ == "Async refund." and ag.__wrapped__ is arefund
    assert g.action == "money.refund"


class Cents(int):
    """A user type, known only to this module."""


def test_frameworks_read_resolved_annotations_under_future_annotations(rail: Rail) -> None:
    # This module has `from __future__ import annotations`: every annotation is a string
    # until evaluated in this module. A framework reading the decorated function (MCP, Pydantic
    # AI, LangChain) must see the types, as for the undecorated one.
    def refund(payment_id: str, amount: Cents, note: Optional[str] = None) -> Dict[str, Any]:
        """Refund."""
        return {}

    g = governed("money.refund", rail=rail)(refund)
    resolved = inspect.signature(refund, eval_str=True).replace(return_annotation=Result)
    assert inspect.signature(g) == resolved
    assert inspect.signature(g).parameters["amount"].annotation is Cents
    assert inspect.signature(g, eval_str=True) == resolved
    assert typing.get_type_hints(g) == {**typing.get_type_hints(refund), "return": Result}
    assert g.__annotations__["amount"] is Cents
    assert g.__annotations__["return"] is Result


def test_an_annotation_not_yet_defined_is_left_as_written(rail: Rail) -> None:
    def refund(payment_id: str, amount: DefinedLater) -> None:  # noqa: F821
        """Refund."""

    g = governed("money.refund", rail=rail)(refund)
    assert inspect.signature(g).parameters["amount"].annotation == "DefinedLater"
    assert inspect.signature(g).parameters == inspect.signature(refund).parameters


def test_variadic_parameters_are_refused_at_decoration_time(rail: Rail) -> None:
    with pytest.raises(TypeError, match=r"\*args"):
        @governed("money.refund", rail=rail)
        def f(payment_id: str, *args: Any) -> None:
            """No."""

    with pytest.raises(TypeError, match=r"\*\*extra"):
        @governed("money.refund", rail=rail)
        def g(payment_id: str, **extra: Any) -> None:
            """No."""


def test_wrong_arguments_raise_type_error_before_any_request(rail: Rail) -> None:
    @governed("money.refund", rail=rail)
    def refund(payment_id: str, amount: int) -> dict:
        """Refund."""

    with pytest.raises(TypeError):
        refund("p")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        refund("p", 1, 2)  # type: ignore[call-arg]


def test_from_env(demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTENTRAIL_URL", demo.rail_url)
    monkeypatch.setenv("INTENTRAIL_API_KEY", demo.api_key)
    monkeypatch.setenv("INTENTRAIL_AGENT_ID", demo.agent_id)
    r = Rail.from_env()
    assert r.agent()["agent_id"] == demo.agent_id
    leaked = demo.api_key in repr(r)
    assert not leaked, "the API key appears in repr(Rail)"

    @governed("money.refund")  # rail from the environment, at the first call
    def refund(payment_id: str, amount: int, currency: str = "usd") -> dict:
        """Refund."""

    p = pid()
    assert refund(p, 4).status == 200
    assert len(received(demo, p)) == 1

    monkeypatch.delenv("INTENTRAIL_API_KEY")
    with pytest.raises(intentrail.InvalidRequest, match="INTENTRAIL_API_KEY") as e:
        Rail.from_env()
    # The Python layer's own errors read like the rail's (core's rendering).
    assert str(e.value).endswith("Fix the request as described, then call again."), str(e.value)


def test_a_wrong_key_raises_authentication_error(demo: Any) -> None:
    r = Rail(demo.rail_url, "ir_" + "x" * 43, demo.agent_id)
    with pytest.raises(AuthenticationError) as e:
        r.actions()
    assert e.value.code == "unauthenticated"


def test_an_unreachable_rail_raises_rail_unavailable() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = Rail(f"http://127.0.0.1:{port}", "ir_secret_value", "a", timeout=2)
    with pytest.raises(RailUnavailable) as e:
        r.act("money.refund", {"payment_id": "p", "amount": 1})
    leaked = "ir_secret_value" in str(e.value)
    assert not leaked, "the API key appears in the error"


def test_actions_lists_the_catalog(rail: Rail) -> None:
    text = json.dumps(rail.actions())
    for name in ("money.refund", "money.payment", "money.transfer"):
        assert name in text


def test_works_after_fork(demo: Any, rail: Rail) -> None:
    rail.actions()  # the runtime and the connection pool exist in the parent
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            ok = rail.act("money.refund", {"payment_id": pid(), "amount": 1, "currency": "usd"}).status == 200
            code = 0 if ok else 2
        except BaseException:
            code = 3
        finally:
            os.write(w, bytes([code]))
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(child, 0)
    got = os.read(r, 1)
    os.close(r)
    assert got == b"\x00" and os.WEXITSTATUS(status) == 0
    assert rail.act("money.refund", {"payment_id": pid(), "amount": 1, "currency": "usd"}).status == 200


def test_async_methods_mirror_the_sync_ones(demo: Any, rail: Rail) -> None:
    p = pid()
    params = {"payment_id": p, "amount": 6, "currency": "usd"}

    async def main() -> None:
        permit = await rail.aintent("money.refund", params)
        r = await rail.aexecute(permit, params)
        assert r.status == 200
        assert (await rail.areceipt(r.receipt["id"]))["id"] == r.receipt["id"]
        assert "money.refund" in json.dumps(await rail.aactions())
        with pytest.raises(PolicyDenied):
            await rail.aact("money.refund", dict(params, amount=50_000))
        with pytest.raises(PermitRejected):
            await rail.aexecute(permit, params)

    asyncio.run(main())
    assert len(received(demo, p)) == 1
