"""One load run against one server with the CPU it cost: the server's process tree and PostgreSQL's."""

from __future__ import annotations

from dataclasses import dataclass

from harness import load
from harness.cpu import CpuMeter, wait_quiet
from harness.servers import Server


@dataclass
class Measured:
    result: load.Result
    server_ms: float
    postgres_ms: float

    @property
    def server_per_request(self) -> float:
        return self.server_ms / self.result.processed if self.result.processed else float("nan")

    @property
    def postgres_per_request(self) -> float:
        return self.postgres_ms / self.result.processed if self.result.processed else float("nan")


def measure(
    server: Server,
    workload: load.Workload,
    *,
    postmaster_pid: int | None,
    seconds: float,
    connections: int,
    generator: str,
) -> Measured:
    """From an idle server to an idle server again, so that the requests still in flight when the load
    stops are charged to this run and never to the next one."""
    wait_quiet(server.pid)
    meter = CpuMeter({"server": server.pid, "postgres": postmaster_pid})
    meter.start()
    result = load.run(workload, connections=connections, seconds=seconds, generator=generator)
    wait_quiet(server.pid)
    used = meter.stop()
    server.check_alive()
    return Measured(result, used["server"], used["postgres"])
