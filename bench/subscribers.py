"""Benchmark: many WebSocket subscribers, changes committed through the API at a steady rate.

Starts an embedded PostgreSQL (or uses the cluster named by ``INCIDENTDESK_BENCH_DATABASE_URL``, an owner
URL), migrates a fresh database, seeds tenants through the domain (``live/seed.py``), serves the app with
``--processes`` uvicorn processes on the same database, and opens the subscribers from ``--clients``
client processes (so that the client is not what limits the run). Then it commits comments with
``addComment`` over HTTP with an AGENT's token at ``--rate`` per second, through the first server, and
prints the latency from each mutation's answer to each receipt (p50, p99, max), the server's memory per
idle connection, and how many deliveries were lost, duplicated or unexpected, against the targets.
Exits non-zero when any was lost, duplicated or unexpected, a subscription failed or the server failed a
change (not for latency or memory).

    python bench/subscribers.py [--subscribers 2000] [--rate 1] [--seconds 10] [--nested]
    python bench/subscribers.py --mix --subscribers 10000 --rate 10 [--processes 2] [--clients 4]

Without ``--mix``: AGENTs of one tenant on graphql-transport-ws, all following ``incidentEvents``
(``--nested``: with the incident and its service), every comment PUBLIC: every event goes to every
subscriber, so the server sends subscribers x rate results per second.

With ``--mix`` (``live/plan.py``): ``--tenants`` tenants (5), each with AGENTs and CUSTOMERs following
``incidentEvents`` with the event's actor, its incident and the incident's service, AGENTs and
CUSTOMERs following ``serviceStatusChanged``, and anonymous viewers of the tenant's public status page
(``publicStatusChanged``), on both subprotocols. Comments go to the tenants in turn, every
``--internal-every``-th INTERNAL (AGENTs only); every ``--step-interval`` seconds a bulletin step in the
tenants in turn flips a service's status, which status subscribers and public viewers receive. What each
subscriber should receive and how public viewers are counted: ``live/tally.py``.

Memory per idle connection: the servers' resident memory (``VmRSS``) before the subscribers connect and
once they are all subscribed, warmed up and idle, the difference divided by their number. With
``--processes 2`` the subscribers are split evenly and every change is committed through the first
server: what the second delivers came through the shared database's outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from collections import Counter

from live.client import Clients
from live.commits import Commit, Committer
from live.plan import Kind, Spec, mixed, single
from live.seed import World, seed
from live.servers import Server, cluster, cpu_seconds, fresh_database, rss_kib, servers
from live.tally import Tally, expected_of, latency_line, tally, targets

from domain.db import app_url_from_owner_url

WARM_UP_ROUNDS = 100


def shares(
    specs: list[Spec], running: list[Server], world: World, clients: int
) -> list[list[tuple[str, Spec, str | None]]]:
    """Each client process's subscribers: spec i goes to server i mod servers and client i mod clients."""
    split: list[list[tuple[str, Spec, str | None]]] = [[] for _ in range(clients)]
    for spec in specs:
        server = running[spec.index % len(running)]
        split[spec.index % clients].append((server.url, spec, spec.token_of(world.tokens)))
    return [share for share in split if share]


async def wait_for(clients: Clients, command: str, target: int, within: float) -> int:
    """Ask until the clients' total reaches ``target`` or ``within`` seconds pass; the last total."""
    deadline = time.monotonic() + within
    total = await clients.total(command)
    while total < target and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        total = await clients.total(command)
    return total


async def warm_up(clients: Clients, committer: Committer, count: int, steps: bool) -> None:
    """Commit a change every subscriber hears until each has heard something: a subscription is live
    only once the server has started it, which the protocol does not acknowledge. Public viewers hear
    the page's current state as soon as they subscribe. A new round is committed only once the last
    one's deliveries stop coming (5 s without one more subscriber hearing it): on a busy machine a
    round can take long to reach everyone, and piling rounds up would only slow it further."""
    for round_ in range(WARM_UP_ROUNDS):
        await committer.warm_up(round_, steps)
        heard = -1
        while heard < count:
            last, heard = heard, await wait_for(clients, "heard", count, 5.0)
            if heard == last:
                break
        if heard >= count:
            return
    raise RuntimeError("the subscriptions did not all go live")


async def settle(clients: Clients, before: int, expected: int, grace: float, quiet: float = 10.0) -> None:
    """Wait until the expected deliveries have arrived, or none has for ``quiet`` seconds (a public
    viewer's superseded states never come), ``grace`` at most; then a second more for strays: a
    duplicate comes after the first copy."""
    deadline = time.monotonic() + grace
    total, changed = await clients.total("count"), time.monotonic()
    while total < before + expected and time.monotonic() < min(deadline, changed + quiet):
        await asyncio.sleep(0.5)
        last, total = total, await clients.total("count")
        if total != last:
            changed = time.monotonic()
    await asyncio.sleep(1.0)


async def measure(args: argparse.Namespace, specs: list[Spec]) -> tuple[Tally, list[Commit], float]:
    tenants = args.tenants if args.mix else 1
    with cluster() as admin_url:
        owner_url = fresh_database(admin_url)
        app_url = app_url_from_owner_url(owner_url)
        world = await seed(app_url, tenants)
        with servers(owner_url, app_url, args.processes) as running:
            rss_before = [rss_kib(s.pid) for s in running]
            began = time.monotonic()
            clients = Clients.start(shares(specs, running, world, args.clients))
            committer = Committer(running[0].url, world)
            try:
                opened = sum(await clients.answers())
                print(f"{opened} subscribers connected in {time.monotonic() - began:.1f}s", flush=True)
                # The server starts each subscription after its socket is open, and a public viewer is
                # sent the page at once: once every viewer has its page, the server has gone through
                # the subscribe messages (viewers are spread over the whole plan). Changes committed
                # before that would queue behind thousands of subscription starts for a database
                # connection.
                viewers = sum(1 for spec in specs if spec.kind is Kind.PUBLIC)
                await wait_for(clients, "heard", viewers, args.grace)
                print(f"public viewers have their page after {time.monotonic() - began:.1f}s", flush=True)
                steps = any(spec.kind is not Kind.EVENTS for spec in specs)
                await warm_up(clients, committer, len(specs), steps)
                print(f"all live after {time.monotonic() - began:.1f}s", flush=True)
                await asyncio.sleep(args.idle)  # the warm-up's deliveries finish; the servers are idle
                rss_idle = [rss_kib(s.pid) for s in running]
                for i, (b, a) in enumerate(zip(rss_before, rss_idle, strict=True)):
                    print(
                        f"server {i + 1} RSS: {b / 1024:.1f} MiB before, {a / 1024:.1f} MiB idle with subscribers"
                    )
                kb_per_connection = (sum(rss_idle) - sum(rss_before)) * 1.024 / len(specs)

                before = await clients.total("count")
                comments = max(1, int(args.rate * args.seconds))
                print(
                    f"committing {comments} comments at {args.rate}/s"
                    + (f" and a bulletin step every {args.step_interval}s" if steps else "")
                    + f" through server 1 of {len(running)}",
                    flush=True,
                )
                cpu_before = [cpu_seconds(pid) for pid in [s.pid for s in running] + clients.pids]
                wall_before = time.monotonic()
                commits = await committer.run(
                    comments=comments,
                    rate=args.rate,
                    internal_every=args.internal_every if args.mix else 0,
                    step_interval=args.step_interval if steps else None,
                )
                expected = sum(len(expected_of(spec, commits)) for spec in specs)
                await settle(clients, before, expected, args.grace)
                wall = time.monotonic() - wall_before
                cpu = [
                    cpu_seconds(pid) - b
                    for pid, b in zip([s.pid for s in running] + clients.pids, cpu_before, strict=True)
                ]
                servers_cpu, clients_cpu = sum(cpu[: len(running)]), sum(cpu[len(running) :])
                print(
                    f"CPU while committing and delivering ({wall:.1f}s): servers {servers_cpu:.1f}s,"
                    f" client processes {clients_cpu:.1f}s, of {os.cpu_count()} cores shared with whatever else runs",
                    flush=True,
                )
                reports = await clients.finish()
            finally:
                await committer.aclose()
                clients.kill()
    result = tally(specs, reports, commits)
    result.errors.extend(f"the server failed a change: {failure}" for failure in committer.failures)
    return result, commits, kb_per_connection


def describe(specs: list[Spec]) -> str:
    kinds = Counter(f"{spec.kind.value} {spec.role.value}" for spec in specs)
    protocols = Counter(spec.protocol for spec in specs)
    return "; ".join(
        [
            ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
            ", ".join(f"{k} {v}" for k, v in sorted(protocols.items())),
        ]
    )


def by_kind(counts: Counter[Kind]) -> str:
    shown = ", ".join(f"{kind.value} {n}" for kind, n in counts.items() if n)
    return f" ({shown})" if shown else ""


def print_timeline(result: Tally) -> None:
    """Latency by the second of the run in which the change was committed."""
    if not result.timeline:
        return
    began = min(at for at, _ in result.timeline)
    seconds: dict[int, list[float]] = {}
    for at, latency in result.timeline:
        seconds.setdefault(int(at - began), []).append(latency)
    for second, latencies in sorted(seconds.items()):
        print(latency_line(f"  committed in second {second}", latencies))


def report(
    args: argparse.Namespace, specs: list[Spec], result: Tally, commits: list[Commit], kb: float
) -> int:
    steps = sum(1 for c in commits if c.is_step)
    internal = sum(1 for c in commits if c.internal)
    print()
    print(
        f"subscribers: {len(specs)} on {args.processes} server process(es), {args.clients} client processes"
    )
    print(f"  {describe(specs)}")
    print(f"committed: {len(commits) - steps} comments ({internal} INTERNAL), {steps} bulletin steps")
    print(f"deliveries: {result.delivered} of {result.expected}", end="")
    print(f" ({result.superseded} public states superseded by a later one)" if result.superseded else "")
    print(latency_line("latency commit->receipt ms", result.all_latencies))
    for kind in Kind:
        if result.latencies_ms[kind]:
            print(latency_line(f"  {kind.value}", result.latencies_ms[kind]))
    if args.timeline:
        print_timeline(result)
    print(f"memory per idle connection: {kb:.1f} KB")
    print(f"events lost: {result.lost}{by_kind(result.lost_by_kind)}")
    print(f"events duplicated: {result.duplicated}{by_kind(result.duplicated_by_kind)}")
    print(f"unexpected deliveries (another tenant's, or INTERNAL to a customer): {result.unexpected}")
    if result.errors:
        print(f"errors (subscriptions ended, changes the server failed): {len(result.errors)}")
        for error in sorted(set(result.errors))[:5]:
            print(f"  {error}")
    print("targets:")
    for met, line in targets(result, kb):
        print(f"  {'PASS' if met else 'FAIL'}  {line}")
    failed = result.lost or result.duplicated or result.unexpected or result.errors
    return 1 if failed else 0


async def run(args: argparse.Namespace) -> int:
    # Sockets of the servers (inherited) and of this process's HTTP client; clients raise their own.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.subscribers * 2 + 1000)), hard))
    specs = mixed(args.subscribers, args.tenants) if args.mix else single(args.subscribers, args.nested)
    result, commits, kb = await measure(args, specs)
    return report(args, specs, result, commits, kb)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1.0, help="comments committed per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to commit")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to wait for stragglers")
    parser.add_argument(
        "--nested", action="store_true", help="select the incident and its service, as portals do"
    )
    parser.add_argument(
        "--mix", action="store_true", help="tenants, roles, kinds and both subprotocols mixed"
    )
    parser.add_argument("--tenants", type=int, default=5, help="tenants of --mix")
    parser.add_argument(
        "--step-interval", type=float, default=1.0, help="seconds between bulletin steps (--mix)"
    )
    parser.add_argument("--internal-every", type=int, default=4, help="every n-th comment INTERNAL (--mix)")
    parser.add_argument("--processes", type=int, default=1, help="server processes on the same database")
    parser.add_argument("--clients", type=int, default=4, help="client processes holding the sockets")
    parser.add_argument(
        "--timeline", action="store_true", help="latency by the second in which changes were committed"
    )
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before the memory is read")
    args = parser.parse_args()
    if args.subscribers < 1 or args.processes < 1 or args.clients < 1 or args.tenants < 1:
        parser.error("--subscribers, --processes, --clients and --tenants must be at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
