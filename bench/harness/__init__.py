"""Shared pieces of the benchmarks: the PostgreSQL cluster, the servers under test, CPU accounting and
load generation. Scripts in ``bench/`` import it as ``harness`` (``bench/`` is their ``sys.path[0]``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
# Tokens are minted by the built-in issuer; memberships are keyed by (issuer, subject), so the server
# under test and the harness must agree on it.
ISSUER = "https://incidentdesk.bench"
