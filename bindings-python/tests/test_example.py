"""examples/python/refund_agent.py runs against the fixture's rail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "refund_agent.py"


def test_the_refund_agent_example_runs(demo: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTRAIL_")}
    out = subprocess.run([sys.executable, str(EXAMPLE), str(demo.env_file)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "downstream status 200" in out.stdout
    assert "denied by refund_cap" in out.stdout
    leaked = demo.api_key in out.stdout + out.stderr
    assert not leaked, "the API key appears in the example's output"
    payment = out.stdout.split(" on ")[1].split(":")[0]
    assert any(payment in r["body"] for r in demo.requests())


def test_the_refund_agent_example_reads_the_environment(demo: Any) -> None:
    env = dict(os.environ, INTENTRAIL_URL=demo.rail_url, INTENTRAIL_API_KEY=demo.api_key,
               INTENTRAIL_AGENT_ID=demo.agent_id)
    out = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "denied by refund_cap" in out.stdout


SUPPORT = EXAMPLE.with_name("support_agent.py")


def test_the_support_agent_reacts_to_what_the_rail_answered(demo: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTRAIL_")}
    out = subprocess.run([sys.executable, str(SUPPORT), str(demo.env_file)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    # The model read each answer of the rail, then told the user which is which.
    assert any(line.startswith("model reads (success): ") for line in lines)
    assert "model reads (failed): policy_denied: denied by policy `refund_cap`." in out.stdout
    assert "model reads (failed): approval_pending: " in out.stdout
    assert "- refund of 25.00 usd: done (receipt rct_" in out.stdout
    assert "- refund of 300.00 usd: not allowed by policy (refund_cap)" in out.stdout
    assert "- transfer of 1,000.00 usd to the vendor: waiting for a person's approval" in out.stdout
    assert demo.api_key not in out.stdout + out.stderr
    # Exactly the allowed refund reached the payments API.
    payment = next(line for line in lines if '"amount": 2500' in line).split('"payment_id": "')[1][:14]
    assert [r["path"] for r in demo.requests() if payment in r["body"]] == ["/v1/refunds"]
    transfers = [r for r in demo.requests() if "acct_vendor" in r["body"]]
    assert transfers == []
