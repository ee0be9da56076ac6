"""Load generation: ``wrk`` when it is installed (a Lua script per workload carries the POST bodies and
headers and checks every answer), else ``loadgen.py``, a Python process of its own. Both run a closed
loop (each connection sends its next request when the previous answer arrived) and count as an error any
answer with an unexpected status, GraphQL ``errors`` or mutation ``userErrors``, and socket errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOADGEN = Path(__file__).with_name("loadgen.py")
DEDUP_PLACEHOLDER = "@@DEDUP_KEY@@"
HOT_KEYS = 20


@dataclass(frozen=True)
class Workload:
    """What to send: bodies are cycled over; with ``dedup`` every other request repeats one of
    HOT_KEYS keys and the rest carry a key never sent before (in place of DEDUP_PLACEHOLDER)."""

    name: str
    url: str
    bodies: tuple[str, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    expect: int = 200
    dedup: bool = False


@dataclass
class Result:
    requests: int
    duration: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    bad_status: int
    socket_errors: int
    # Requests sent inside the window but answered after it (or abandoned at its end): not in the
    # counts above, but the server did (or does) their work.
    unfinished: int
    samples: list[str]

    @property
    def rps(self) -> float:
        return self.requests / self.duration if self.duration > 0 else 0.0

    @property
    def processed(self) -> int:
        """What the server worked on while the CPU meter ran: CPU per request divides by this."""
        return self.requests + self.unfinished


def available_generator(choice: str = "auto") -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk), use --load-generator python")
    return choice


def wrk_version() -> str:
    found = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (found.stdout or found.stderr).strip().splitlines()[0] if (found.stdout or found.stderr) else "wrk"


def run(workload: Workload, *, connections: int, seconds: float, generator: str) -> Result:
    if generator == "wrk":
        return _run_wrk(workload, connections, seconds)
    return _run_python(workload, connections, seconds)


def _all_headers(workload: Workload) -> dict[str, str]:
    return {"Content-Type": "application/json", **workload.headers}


def _run_python(workload: Workload, connections: int, seconds: float) -> Result:
    parts = urlsplit(workload.url)
    spec = {
        "host": parts.hostname,
        "port": parts.port,
        "method": "POST",
        "path": parts.path or "/",
        "headers": _all_headers(workload),
        "bodies": list(workload.bodies),
        "expect": workload.expect,
        "connections": connections,
        "seconds": seconds,
        "dedup": (
            {"placeholder": DEDUP_PLACEHOLDER, "hot": HOT_KEYS, "tag": uuid.uuid4().hex[:12]}
            if workload.dedup
            else None
        ),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        done = subprocess.run(
            [sys.executable, str(LOADGEN), handle.name],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Result(**found)


def _lua_string(value: str) -> str:
    level = 0
    while f"]{'=' * level}]" in value:
        level += 1
    return f"[{'=' * level}[{value}]{'=' * level}]"


_WRK_SCRIPT = """
-- Written for one run by bench/harness/load.py.
local method = "POST"
local path = %(path)s
local headers = { %(headers)s }
local bodies = { %(bodies)s }
local expect = %(expect)d
local dedup = %(dedup)s
local placeholder = %(placeholder)s
local hot = %(hot)d
local tag = %(tag)s
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  errors = 0
  bad_status = 0
  sent = 0
  sample = nil
  prepared = {}
  for i, body in ipairs(bodies) do
    prepared[i] = wrk.format(method, path, headers, body)
  end
end

function request()
  local n = sent
  sent = sent + 1
  local index = ((thread_id + n) %% #bodies) + 1
  if dedup then
    local key
    if n %% 2 == 0 then
      key = "hot-" .. ((thread_id + math.floor(n / 2)) %% hot)
    else
      key = tag .. "-" .. thread_id .. "-" .. n
    end
    local body = string.gsub(bodies[index], placeholder, key)
    return wrk.format(method, path, headers, body)
  end
  return prepared[index]
end

function response(status, hdrs, body)
  if status ~= expect then
    bad_status = bad_status + 1
    errors = errors + 1
    if sample == nil then sample = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) end
  elseif body and (string.find(body, '"errors":', 1, true) or string.find(body, '"userErrors":%%s*%%[%%s*{')) then
    errors = errors + 1
    if sample == nil then sample = string.sub(body, 1, 500) end
  end
end

function done(summary, latency, requests)
  local e, b, s = 0, 0, nil
  for _, t in ipairs(threads) do
    e = e + t:get("errors")
    b = b + t:get("bad_status")
    if s == nil then s = t:get("sample") end
  end
  local se = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRKRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"errors": %%d, "bad_status": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max), e + se, b, se))
  if s ~= nil then io.write("WRKSAMPLE " .. string.gsub(s, "\\n", " ") .. "\\n") end
end
"""


def _run_wrk(workload: Workload, connections: int, seconds: float) -> Result:
    parts = urlsplit(workload.url)
    script = _WRK_SCRIPT % {
        "path": _lua_string(parts.path or "/"),
        "headers": ", ".join(
            f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in _all_headers(workload).items()
        ),
        "bodies": ", ".join(_lua_string(body) for body in workload.bodies),
        "expect": workload.expect,
        "dedup": "true" if workload.dedup else "false",
        "placeholder": _lua_string(DEDUP_PLACEHOLDER),
        "hot": HOT_KEYS,
        "tag": _lua_string(uuid.uuid4().hex[:12]),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    threads = max(1, min(2, connections))
    try:
        done = subprocess.run(
            [
                *("wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s"),
                *("--timeout", "30s", "-s", handle.name, workload.url),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
    finally:
        os.unlink(handle.name)
    result = sample = None
    for line in done.stdout.splitlines():
        if line.startswith("WRKRESULT "):
            result = json.loads(line.removeprefix("WRKRESULT "))
        elif line.startswith("WRKSAMPLE "):
            sample = line.removeprefix("WRKSAMPLE ")
    if done.returncode != 0 or result is None:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()[-2000:]} {done.stdout.strip()[-2000:]}")
    return Result(
        requests=result["requests"],
        duration=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p90_ms=result["p90_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        max_ms=result["max_us"] / 1000,
        errors=result["errors"],
        bad_status=result["bad_status"],
        socket_errors=result["socket_errors"],
        # wrk closes its connections at the end, each with one request sent and unanswered; the server
        # still works on them (the harness waits for it to go quiet before reading its CPU).
        unfinished=connections,
        samples=[sample] if sample else [],
    )
