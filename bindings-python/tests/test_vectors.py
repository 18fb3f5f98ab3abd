"""Golden vectors replayed through the Python SDK: the same bytes as the Rust core."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Dict, List

import pytest

import intentrail
from intentrail import InvalidRequest, PermitRejected
from intentrail.exceptions import IntentRailError

REPO = Path(__file__).resolve().parents[2]
OWN = REPO / "tests" / "vectors"


def external_vectors() -> Path:
    """`<repo>/tests/vectors/external` (sources and licences in its README), or
    `$INTENTRAIL_EXTERNAL_VECTORS` when set (another copy of the same layout)."""
    p = Path(os.environ.get("INTENTRAIL_EXTERNAL_VECTORS") or OWN / "external")
    assert p.is_dir(), f"external vectors: {p} is not a directory"
    return p


def lines(name: str) -> List[Dict[str, Any]]:
    path = OWN / name
    out = [json.loads(l) for l in path.read_text(encoding="utf-8").split("\n") if l.strip()]
    assert out, f"no vectors in {path}"
    return out


def test_canonical_vectors_give_the_recorded_bytes_and_hashes() -> None:
    for v in lines("canonical.jsonl"):
        canonical = v["canonical"].encode("utf-8")
        assert intentrail.canonicalize_json(v["input"]) == canonical, v["name"]
        assert intentrail._native.payload_hash(v["input"]) == v["hash"], v["name"]
        # The Python-object path: json.loads, then the SDK's own serialization.
        obj = json.loads(v["input"])
        if v["name"] == "large_integral_float":
            continue  # canonical output beyond 2^53 is not strict input (see vectors/README)
        assert intentrail.canonicalize(obj) == canonical, v["name"]
        assert intentrail.payload_hash(obj) == v["hash"], v["name"]


def test_reject_vectors_are_refused_with_their_rule() -> None:
    for v in lines("rejects.jsonl"):
        doc = bytes.fromhex(v["input_hex"]) if "input_hex" in v else v["input"]
        with pytest.raises(InvalidRequest) as e:
            intentrail.canonicalize_json(doc)
        assert e.value.code == "invalid_json", v["name"]
        assert e.value.message.startswith(v["rule"] + " at "), (v["name"], e.value.message)


def test_python_values_the_rail_refuses_are_refused_locally() -> None:
    for bad in ({"a": "\ud800"}, {"a": 2 ** 53}, {"a": float("inf")}, {1: 1, "1": 2}):
        with pytest.raises(InvalidRequest) as e:
            intentrail.canonicalize(bad)
        assert e.value.code == "invalid_json"


def test_permit_vectors_verify_as_recorded() -> None:
    for v in lines("permits.jsonl"):
        opts = v["verify"]
        if v["expect"] == "ok":
            claims = intentrail.verify_permit(v["permit"], v["jwks"], audience=opts["audience"],
                                              issuer=opts["issuer"], now=opts["now"])
            assert claims == v["claims"], v["name"]
        else:
            with pytest.raises(PermitRejected) as e:
                intentrail.verify_permit(v["permit"], json.dumps(v["jwks"]), audience=opts["audience"],
                                         issuer=opts["issuer"], now=opts["now"])
            assert e.value.code == v["expect"], v["name"]


def test_external_jcs_vectors_give_the_reference_bytes() -> None:
    jcs = external_vectors() / "jcs"
    inputs = sorted((jcs / "input").glob("*.json"))
    assert inputs, f"no JCS vectors in {jcs}"
    for f in inputs:
        expected = (jcs / "output" / f.name).read_bytes()
        assert intentrail.canonicalize_json(f.read_bytes()) == expected, f.name
        assert intentrail.canonicalize(json.loads(f.read_bytes())) == expected, f.name


def test_external_number_vectors_serialize_like_ecmascript() -> None:
    path = external_vectors() / "jcs" / "numbers.txt"
    n = 0
    refused = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        bits, expected = line.split(",")
        x = struct.unpack(">d", bytes.fromhex(bits.rjust(16, "0")))[0]
        if x.is_integer() and 2**53 - 1 < abs(x) < 1e21:
            # Integral doubles that print as integer literals beyond ±(2^53−1) are refused by
            # the rail's I-JSON rules (docs/architecture.md), whatever their formatting.
            with pytest.raises(IntentRailError) as e:
                intentrail.canonicalize(x)
            assert e.value.code == "invalid_json", line
            refused += 1
        else:
            assert intentrail.canonicalize(x) == expected.encode(), line
        n += 1
    assert n > 1000
    assert 0 < refused < n
