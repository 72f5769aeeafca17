"""Golden files: the exact output a change must not alter by accident. A missing golden file fails
its test (run once with ``UPDATE_GOLDEN=1`` to write it, then read the diff before committing)."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).with_name("golden")


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"the golden file tests/golden/{name} is missing; write it with UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} changed; rerun with UPDATE_GOLDEN=1 if meant"
