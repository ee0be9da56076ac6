"""Printing results: the machine and versions a run was made on, Markdown tables (pasteable into
bench/RESULTS.md) and PASS/FAIL lines for targets."""

from __future__ import annotations

import math
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("machine", f"{os.cpu_count()} CPUs (nproc), {cpu_model()}"),
        ("load average at start", " ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("python", platform.python_version()),
        *extra,
        ("command", " ".join(shlex.quote(part) for part in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])),
    ]


def print_environment(items: Sequence[tuple[str, str]]) -> None:
    for name, value in items:
        print(f"- {name}: {value}")
    print()


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(ours: float, theirs: float) -> float:
    if not theirs or math.isnan(theirs) or math.isnan(ours):
        return float("nan")
    return ours / theirs


def median(values: Iterable[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


class Table:
    """A Markdown table printed row by row, so long runs show progress."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = list(headers)
        print("| " + " | ".join(self.headers) + " |")
        print("|" + "|".join("---" for _ in self.headers) + "|")
        sys.stdout.flush()

    def row(self, cells: Sequence[str]) -> None:
        print("| " + " | ".join(cells) + " |", flush=True)


def target(passed: bool, text: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {text}", flush=True)
    return passed
