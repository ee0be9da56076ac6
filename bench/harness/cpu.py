"""CPU time of a process tree from /proc, so that a benchmark reports work done, not just wall time."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks) of one process: its own user+system time plus that of its reaped children
    (a PostgreSQL backend that exited during a round is accounted to the postmaster this way)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def tree_cpu_ms(root: int) -> float:
    """CPU milliseconds used so far by ``root`` and every live descendant."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        found = _stat(int(entry.name))
        if found is not None:
            parents[int(entry.name)], ticks[int(entry.name)] = found
    if root not in ticks:
        return float("nan")
    members = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return sum(ticks[pid] for pid in members) * _TICK_MS


class CpuMeter:
    """CPU used by several process trees between ``start`` and ``stop``, in milliseconds per tree."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = roots
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: self._read(pid) for name, pid in self.roots.items()}

    def stop(self) -> dict[str, float]:
        return {name: self._read(pid) - self._before[name] for name, pid in self.roots.items()}

    @staticmethod
    def _read(pid: int | None) -> float:
        return float("nan") if pid is None else tree_cpu_ms(pid)


def wait_quiet(pid: int, *, interval: float = 0.25, limit: float = 60.0) -> None:
    """Wait until ``pid``'s tree stops working (at most one clock tick of CPU per ``interval``), so that
    requests left over from one measurement are never charged to the next."""
    deadline = time.monotonic() + limit
    before = tree_cpu_ms(pid)
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = tree_cpu_ms(pid)
        if now - before <= _TICK_MS:
            return
        before = now
