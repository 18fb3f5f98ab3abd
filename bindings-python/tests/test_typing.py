"""The README's Python example and the decorator's types pass `mypy --strict` against the
installed package: a decorated call keeps its parameters and returns `Result` (awaitable for
`async def`), and the empty body the README shows is accepted."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from mypy import api

README = Path(__file__).resolve().parents[2] / "README.md"

USAGE = '''
from typing import Any, Dict, Optional

from intentrail import Rail, Result, governed

rail = Rail("http://127.0.0.1:1", "ir_x", "bot")


@governed("money.refund", rail=rail)
def refund(payment_id: str, amount: int, currency: str = "usd") -> None:
    """Refund a payment."""


@governed("money.refund", rail=rail)
async def arefund(payment_id: str, amount: int, note: Optional[str] = None) -> None:
    """Refund a payment."""


def sync_call() -> Result:
    r: Result = refund("pay_1", 5000)
    return r


async def async_call() -> int:
    r: Result = await arefund("pay_1", amount=5)
    return r.status


# The parameters are kept: a wrong argument is an error (the ignore would be unused if not).
refund("pay_1", "5000")  # type: ignore[arg-type]
refund("pay_1", 5000, colour="red")  # type: ignore[call-arg]

# The tool with the rail's schema is typed too.
definition: Dict[str, Any] = refund.tool_definition("anthropic", strict=False)
schema: Dict[str, Any] = arefund.input_schema()
name: str = refund.action
refund.tool_definition("gemini")  # type: ignore[arg-type]
'''


def check(tmp_path: Path, name: str, source: str) -> None:
    f = tmp_path / name
    f.write_text(source)
    out, err, status = api.run(["--strict", "--warn-unused-ignores", "--no-incremental",
                                "--cache-dir", str(tmp_path / ".mypy_cache"), str(f)])
    assert status == 0, out + err


def readme_python_example() -> str:
    text = README.read_text()
    section = text[text.index("Python (") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "no Python example in the README"
    return textwrap.dedent(block.group(1))


def test_the_readme_example_passes_mypy_strict(tmp_path: Path) -> None:
    example = readme_python_example()
    assert "@governed" in example
    check(tmp_path, "readme_example.py", example)


def test_decorated_calls_keep_parameters_and_return_result(tmp_path: Path) -> None:
    check(tmp_path, "usage.py", USAGE)


def test_the_package_and_its_adapters_pass_mypy_strict(tmp_path: Path) -> None:
    # The installed package (typed: py.typed), with every framework its adapters import.
    out, err, status = api.run(["--strict", "--no-incremental", "--cache-dir",
                                str(tmp_path / ".mypy_cache"), "-p", "intentrail"])
    assert status == 0, out + err
