"""``capleak fleet``: many virtual beds, each the real bedside chain, spread over processes.

Each virtual bed is what a Raspberry Pi at a bed runs, minus the serial ports: a
virtual HDIL-2 patient (:mod:`edge.lab.patient`) delivers its device readings at
their own times into an unchanged :class:`edge.agent.runtime.Runtime` (its processing
loop, :class:`edge.core.Core`, the alert book, the SQLite outbox in its own state
directory and the MQTT publisher with its own client id, Will and ``seq``), through
:meth:`~edge.agent.runtime.Runtime.offer`, the call a device thread makes. Nothing of
the bedside path is replaced or slowed: the fleet only adds beds.

Beds are spread over ``processes`` worker processes (``multiprocessing``, *spawn*): a
paho client is single-threaded Python and one process managed only 337 of 500
connections in 30 s on this machine (issue 16). A worker starts its beds, waits until
each is ready (outbox open, broker tried), then plays every bed's patient on one
:class:`edge.clock.SharedScaledClock` (``speed`` x real time; its wall time starts at
the worker's start, so at ``speed`` 1 a payload's ``time`` is the wall time it was
made and a subscriber can measure latency from it). After ``duration_s`` it waits up to
``drain_s`` for every bed's outbox to empty (the broker acknowledged everything),
stops the beds as SIGTERM stops an agent (offline status, clean disconnect) and
reports per bed the ``seq`` range the run used and what was left unacknowledged.

``seq`` range: ``first_seq`` is the outbox's last ``seq`` before the run + 1, ``last_seq``
its last one after the stop; every number in between went to the broker once (stored
messages, the online statuses and the final offline status; ``docs/messaging.md``), so
a group of stations that received every ``(bed, seq)`` in the ranges lost nothing
(``docs/scale.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.clock import Clock, SharedScaledClock
from edge.config import Config, config_from_dict
from edge.vocabulary import Reading

if TYPE_CHECKING:
    from edge.agent.runtime import Runtime

log = logging.getLogger("capleak.fleet")

#: A worker reports its progress this often (real seconds).
PROGRESS_S = 1.0
#: How long a worker waits for its beds to be ready (outbox open, broker tried).
START_WAIT_S = 60.0
#: Scenario length beyond the run, so no bed runs out of readings (simulated s).
SCENARIO_MARGIN_S = 600.0
#: Longest run in simulated time (the virtual patient's limit is 30 days).
MAX_SIMULATED_S = 29 * 86400.0


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """What ``capleak fleet`` runs (picklable: every worker gets a copy)."""

    broker_url: str
    beds: int
    duration_s: float
    state_dir: str
    speed: float = 1.0
    site: str = "fleet"
    unit: str = "unit-1"
    processes: int = 1
    drain_s: float = 30.0
    seed: int = 1
    protocol: str = "5"
    log_level: int = logging.WARNING

    def __post_init__(self) -> None:
        if self.beds < 1:
            raise ValueError("beds must be at least 1")
        if not 1 <= self.processes <= self.beds:
            raise ValueError(f"processes must be between 1 and the number of beds ({self.beds})")
        if not (self.duration_s > 0 and self.speed > 0):
            raise ValueError("duration and speed must be positive")
        if self.duration_s * self.speed > MAX_SIMULATED_S:
            raise ValueError(
                f"duration x speed is {self.duration_s * self.speed / 86400:.1f} simulated days; "
                f"the virtual patient goes to {MAX_SIMULATED_S / 86400:g}"
            )

    def bed_ids(self) -> list[str]:
        """``bed-001`` ... (at least three digits, so they sort)."""
        width = max(3, len(str(self.beds)))
        return [f"bed-{i:0{width}d}" for i in range(1, self.beds + 1)]

    def shares(self) -> list[list[str]]:
        """The beds of each worker: contiguous, sizes differing by at most one.

        >>> FleetPlan("mqtt://h", 5, 1, "/tmp/x", processes=2).shares()
        [['bed-001', 'bed-002', 'bed-003'], ['bed-004', 'bed-005']]
        """
        ids = self.bed_ids()
        q, r = divmod(len(ids), self.processes)
        out, i = [], 0
        for p in range(self.processes):
            n = q + (1 if p < r else 0)
            out.append(ids[i : i + n])
            i += n
        return out


def bed_config(plan: FleetPlan, bed_id: str) -> Config:
    """One virtual bed's configuration: a normal ``capleak.toml`` without devices."""
    return config_from_dict(
        {
            "bed": {"site": plan.site, "unit": plan.unit, "bed": bed_id},
            "broker": {
                "url": plan.broker_url,
                "protocol": plan.protocol,
                "client_id": f"capleak-fleet-{plan.site}-{plan.unit}-{bed_id}",
            },
            "storage": {"state_dir": str(Path(plan.state_dir) / bed_id)},
        },
        source=f"capleak fleet ({bed_id})",
    )


def patient_readings(plan: FleetPlan, number: int) -> Iterator[Reading]:
    """Bed ``number``'s virtual patient (cohort mix, seed ``plan.seed``): readings in time
    order from :data:`edge.lab.patient.DEFAULT_START` (the doses are left out: a dose is
    an operator's command)."""
    from edge.lab.patient import generate

    days = min(30.0, max(0.05, (plan.duration_s * plan.speed + SCENARIO_MARGIN_S) / 86400))
    sc = generate(None, seed=plan.seed, index=number, days=days)
    for item in sc.streams.readings(source="virtual-patient", by_time=True):
        if isinstance(item, Reading):
            yield item


@dataclass(slots=True)
class BedResult:
    """What one virtual bed did."""

    bed: str
    first_seq: int
    last_seq: int
    unacknowledged: int
    readings: int
    dropped: int
    ready: bool
    exit_code: int | None

    @property
    def published(self) -> int:
        return max(0, self.last_seq - self.first_seq + 1)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "published": self.published}


class VirtualBed:
    """One bed: its patient, and an unchanged :class:`Runtime` in a thread of its own."""

    def __init__(self, plan: FleetPlan, bed_id: str, number: int, clock: Clock) -> None:
        from edge.agent.runtime import Runtime
        from edge.agent.sdnotify import Notifier
        from edge.messaging.outbox import Outbox

        self.plan = plan
        self.config = bed_config(plan, bed_id)
        self.path = f"{plan.site}/{plan.unit}/{bed_id}"
        self.state_dir = Path(self.config.storage.state_dir)
        with Outbox.in_dir(self.state_dir, seq_reserve=self.config.storage.seq_reserve) as ob:
            self.first_seq = ob.last_seq + 1
        self.runtime: Runtime = Runtime(self.config, clock=clock, notifier=Notifier({}))
        self.readings = patient_readings(plan, number)
        self.fed = 0
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, name=f"fleet-{bed_id}", daemon=True)

    def _run(self) -> None:
        try:
            self.exit_code = self.runtime.run()
        except Exception:
            log.exception("bed %s failed", self.path)
            self.exit_code = 1

    def result(self) -> BedResult:
        from edge.messaging.outbox import Outbox

        with Outbox.in_dir(self.state_dir, seq_reserve=self.config.storage.seq_reserve) as ob:
            last, left = ob.last_seq, ob.depth()
        return BedResult(
            self.path,
            self.first_seq,
            last,
            left,
            self.fed,
            self.runtime.counters.dropped,
            self.runtime.ready.is_set(),
            self.exit_code,
        )


def run_beds(
    plan: FleetPlan,
    bed_ids: list[str],
    *,
    progress: Callable[[dict[str, int]], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> list[BedResult]:
    """Run ``bed_ids`` of ``plan`` in this process; returns when they are stopped."""
    anchor = time.time()
    clock = SharedScaledClock(start=anchor, speed=plan.speed, anchor=anchor)
    numbers = {b: i for i, b in enumerate(plan.bed_ids(), start=1)}
    beds = [VirtualBed(plan, b, numbers[b], clock) for b in bed_ids]
    for b in beds:
        b.thread.start()
    try:
        deadline = time.monotonic() + START_WAIT_S
        for b in beds:
            b.runtime.ready.wait(max(0.0, deadline - time.monotonic()))
        _play(plan, beds, clock, progress, stop)
        deadline = time.monotonic() + plan.drain_s
        for b in beds:  # the broker acknowledged everything, or the drain time is up
            while b.runtime.queued and time.monotonic() < deadline:
                time.sleep(0.05)
            if b.runtime.publisher is not None:
                b.runtime.publisher.wait_idle(max(0.0, deadline - time.monotonic()))
    finally:
        for b in beds:
            b.runtime.stop("fleet run over")
        for b in beds:
            b.thread.join(30)
    if progress is not None:
        progress(_progress(beds))
    return [b.result() for b in beds]


def _play(
    plan: FleetPlan,
    beds: list[VirtualBed],
    clock: Clock,
    progress: Callable[[dict[str, int]], None] | None,
    stop: Callable[[], bool],
) -> None:
    """Deliver every bed's readings at their times (shifted to start now) until the end."""
    from edge.lab.patient import DEFAULT_START

    t0 = clock.now()
    shift = t0 - DEFAULT_START
    end = t0 + plan.duration_s * plan.speed
    heap: list[tuple[float, int, Reading]] = []
    for i, b in enumerate(beds):
        first = next(b.readings, None)
        if first is not None and first.time is not None:
            heap.append((first.time + shift, i, first))
    heapq.heapify(heap)
    next_report = time.monotonic() + PROGRESS_S
    while not stop():
        now = clock.now()
        if now >= end:
            break
        if time.monotonic() >= next_report and progress is not None:
            next_report = time.monotonic() + PROGRESS_S
            progress(_progress(beds))
        if not heap or heap[0][0] > now:
            wait = (min(heap[0][0], end) - now) / plan.speed if heap else PROGRESS_S
            time.sleep(min(max(wait, 0.0), 0.2))
            continue
        t, i, reading = heapq.heappop(heap)
        bed = beds[i]
        bed.runtime.offer(dataclasses.replace(reading, time=t))
        bed.fed += 1
        following = next(bed.readings, None)
        if following is not None and following.time is not None:
            heapq.heappush(heap, (following.time + shift, i, following))


def _progress(beds: list[VirtualBed]) -> dict[str, int]:
    depth = connected = 0
    for b in beds:
        pub = b.runtime.publisher
        if pub is not None:
            connected += pub.connected
            with contextlib.suppress(Exception):  # closed at the very end
                depth += pub.outbox.depth()
    return {
        "beds": len(beds),
        "ready": sum(b.runtime.ready.is_set() for b in beds),
        "connected": connected,
        "readings": sum(b.fed for b in beds),
        "outbox": depth,
    }


class _NoDevicesNote(logging.Filter):
    """A virtual bed has no devices by design: drop the runtime's warning about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "no devices configured"


def _worker(plan: FleetPlan, index: int, bed_ids: list[str], events: Any, stop: Any) -> None:
    """A worker process: its beds, progress and results through ``events``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (``stop``)
    logging.basicConfig(
        level=plan.log_level, format=f"%(levelname)s fleet[{index}] %(name)s: %(message)s"
    )
    logging.getLogger("capleak.runtime").addFilter(_NoDevicesNote())
    try:
        results = run_beds(
            plan,
            bed_ids,
            progress=lambda p: events.put(("progress", index, p)),
            stop=stop.is_set,
        )
        events.put(("done", index, [r.to_dict() for r in results]))
    except BaseException as e:
        events.put(("error", index, f"{type(e).__name__}: {e}"))
        raise


@dataclass(slots=True)
class FleetResult:
    """The whole fleet's run."""

    plan: FleetPlan
    beds: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def published(self) -> int:
        return sum(int(b["published"]) for b in self.beds)

    @property
    def unacknowledged(self) -> int:
        return sum(int(b["unacknowledged"]) for b in self.beds)

    @property
    def ok(self) -> bool:
        """Every bed ran, was ready and has nothing left unacknowledged."""
        return (
            not self.errors
            and len(self.beds) == self.plan.beds
            and all(b["ready"] and b["unacknowledged"] == 0 for b in self.beds)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "beds": self.plan.beds,
            "processes": self.plan.processes,
            "duration_s": self.plan.duration_s,
            "speed": self.plan.speed,
            "elapsed_s": round(self.elapsed_s, 3),
            "published": self.published,
            "acknowledged": self.published - self.unacknowledged,
            "unacknowledged": self.unacknowledged,
            "readings": sum(int(b["readings"]) for b in self.beds),
            "dropped": sum(int(b["dropped"]) for b in self.beds),
            "errors": self.errors,
            "per_bed": sorted(self.beds, key=lambda b: str(b["bed"])),
        }


def progress_line(parts: dict[int, dict[str, int]], elapsed: float, plan: FleetPlan) -> str:
    """One line: time, beds ready/connected, readings delivered, outbox depth."""
    total: dict[str, int] = {}
    for p in parts.values():
        for k, v in p.items():
            total[k] = total.get(k, 0) + v
    return (
        f"fleet: {elapsed:5.1f}/{plan.duration_s:g} s, "
        f"{total.get('connected', 0)}/{plan.beds} beds connected, "
        f"{total.get('readings', 0):,} readings, outbox {total.get('outbox', 0):,}"
    )


def run_fleet(
    plan: FleetPlan,
    *,
    progress: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> FleetResult:
    """Start ``plan.processes`` workers, follow them, gather what each bed did."""
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    halt = ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(plan, i, ids, events, halt), name=f"capleak-fleet-{i}")
        for i, ids in enumerate(plan.shares())
    ]
    start = time.monotonic()
    for p in procs:
        p.start()
    result = FleetResult(plan)
    parts: dict[int, dict[str, int]] = {}
    finished: set[int] = set()
    last_line = 0.0
    limit = start + START_WAIT_S + plan.duration_s + plan.drain_s + 120
    try:
        while len(finished) < len(procs):
            if (stop is not None and stop.is_set()) or time.monotonic() > limit:
                halt.set()
            if time.monotonic() > limit + plan.drain_s + 60:  # a worker that never ends
                for i in set(range(len(procs))) - finished:
                    result.errors.append(f"worker {i} did not finish")
                break
            try:
                kind, i, data = events.get(timeout=0.5)
            except queue.Empty:
                for i, p in enumerate(procs):
                    if i not in finished and p.exitcode is not None:
                        finished.add(i)
                        result.errors.append(f"worker {i} exited with {p.exitcode}")
                continue
            if kind == "progress":
                parts[i] = data
                if progress is not None and time.monotonic() - last_line >= PROGRESS_S:
                    last_line = time.monotonic()
                    progress(progress_line(parts, time.monotonic() - start, plan))
            elif kind == "done":
                finished.add(i)
                result.beds.extend(data)
            elif kind == "error":
                finished.add(i)
                result.errors.append(f"worker {i}: {data}")
    except KeyboardInterrupt:
        halt.set()
        raise
    finally:
        for p in procs:
            p.join(plan.drain_s + 60)
            if p.exitcode is None:
                p.kill()
                p.join(5)
    result.elapsed_s = time.monotonic() - start
    return result


def seq_ranges(per_bed: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """``{bed path: (first_seq, last_seq)}`` from a summary's ``per_bed``."""
    return {str(b["bed"]): (int(b["first_seq"]), int(b["last_seq"])) for b in per_bed}


__all__ = [
    "BedResult",
    "FleetPlan",
    "FleetResult",
    "VirtualBed",
    "bed_config",
    "run_beds",
    "run_fleet",
    "seq_ranges",
]
