"""The agent at the bedside: devices -> core -> alert lifecycle -> outbox -> MQTT.

One :class:`Runtime` per bed (``docs/architecture.md``, "Runtime")::

    DeviceLink thread per device --on_reading/on_status--+
    Publisher (own paho loop) ---on_command (dose, baseline)--+--> queue --> processing loop
                                                                   |  Core.update / tick
                                                                   v
            edge.agent.dispatch.Dispatcher: AlertBook (+ ack/silence) -> Outbox -> Publisher

Only the processing loop touches the core, so it needs no lock; readers and
the publisher talk to it through one queue. The dispatcher owns the alert
book (commands ``ack``/``silence`` reach it from the publisher's thread under
its own lock). The loop beats
the systemd watchdog each time round (:class:`edge.agent.sdnotify.Watchdog`): if it
hangs, systemd stops hearing ``WATCHDOG=1`` and restarts the service.

Health (``edge.messaging.health.Health``, published in every ``status``): errors
by place, readings dropped, alert events held. ``storage.fault_after_errors``
consecutive errors of the processing loop, the outbox or the publisher raise the
technical alert ``agent_fault`` (source = where) and stop petting the watchdog for
good, so systemd restarts the agent (``Restart=on-failure``); the next start ends
the ``agent_fault`` it finds in the restored alert book (it then latches until
acknowledged: a nurse learns that the bed had a fault).

Start-up (``shared/docs/messaging-and-ops.md``, "Running as a service"): open
the outbox, restore the alert book and the core's state (saved with every alert
event, after a dose or baseline command, every ``storage.core_state_interval_s`` and on
stop; ``docs/agent.md``), start the publisher and try the broker,
open every device, then ``READY=1``. A device missing at start is not fatal
(its link keeps retrying and a ``device_offline`` technical alert goes out); a
broker missing at start is not fatal either (everything waits in the outbox).

Shutdown on SIGTERM/SIGINT: ``STOPPING=1``, close the ports, put the last
batch of vitals and the alert book's snapshot in the outbox, give the
publisher a moment to drain it, publish the retained ``offline`` status and
disconnect. Nothing committed to the outbox is lost by a crash either: the
next start publishes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent.corestate import CORE_STATE, CoreStatePersistence
from edge.agent.logs import _version, configure_logging
from edge.agent.offline import _tcp_reachable, say_offline, state_dir_writable
from edge.agent.sdnotify import Notifier, Watchdog
from edge.agent.technical import TechnicalAlerts, agent_fault, device_alert, seq_reset_alert
from edge.agent.wallclock import WallClockWatch
from edge.clock import NOT_BEFORE, Clock, SteadyTime, StepWatch, SystemClock
from edge.config import Config, ConfigError, DeviceConfig
from edge.messaging.health import Health, Throttle
from edge.messaging.mqtt import parse_broker_url
from edge.vocabulary import Alert, Phase, Reading, iso_time, parse_time

if TYPE_CHECKING:  # imported lazily at run time: `capleak --help` stays fast
    from drivers.transport import DeviceLink, DeviceStatus, SerialSettings
    from edge.agent.dispatch import Dispatcher
    from edge.core import Core, Output
    from edge.messaging.alerts import AlertEvent
    from edge.messaging.commands import Command
    from edge.messaging.outbox import Outbox
    from edge.messaging.publisher import Publisher

# Names other modules and tests import from here; some now live beside it.
__all__ = [
    "CORE_STATE",
    "AlreadyRunning",
    "Counters",
    "Runtime",
    "agent_fault",
    "configure_logging",
    "core_command",
    "device_alert",
    "say_offline",
    "seq_reset_alert",
    "serial_settings",
    "state_dir_writable",
]

log = logging.getLogger("capleak.runtime")

#: How long start-up waits for each device to open and speak before READY=1 (real s).
DEVICE_WAIT_S = 2.0
#: How long start-up gives the first broker connection before going on without it.
BROKER_WAIT_S = 3.0
#: How long shutdown lets the publisher drain the outbox (real seconds).
DRAIN_S = 3.0
#: Bound of the reader -> processing queue; beyond it readings are dropped and counted.
QUEUE_MAX = 10_000
#: The processing loop wakes at least this often (real seconds) to tick and beat.
LOOP_PERIOD_S = 0.2
#: Time-driven checks (core.tick, alert re-notification) this often, in clock seconds.
TICK_S = 1.0
#: How long a command from the broker waits for the processing loop (real seconds).
COMMAND_TIMEOUT_S = 5.0


@dataclass(slots=True)
class Counters:
    """What the runtime has done, for logs, status and the benchmarks."""

    readings: int = 0
    dropped: int = 0
    outputs: int = 0
    alert_events: int = 0
    commands: int = 0
    errors: int = 0
    device_online: dict[str, bool] = field(default_factory=dict)


class AlreadyRunning(RuntimeError):
    """Another agent holds this state directory."""


class Runtime(CoreStatePersistence, TechnicalAlerts, WallClockWatch):
    """Wires one bed's devices, core, alert book, outbox and publisher."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.watchdog = Watchdog(self.notifier)
        self.counters = Counters()
        self.health = Health(config.storage.fault_after_errors, on_fault=self._fault)
        self._faulted: set[str] = set()
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(QUEUE_MAX)
        self._stop = threading.Event()
        self._stop_reason = ""
        self._signalled: str | None = None  # set by the signal handler only
        self._links: list[DeviceLink] = []
        # set by _open(); None before the runtime is opened and after a failed open
        self.outbox: Outbox | None = None
        self.publisher: Publisher | None = None
        self.dispatch: Dispatcher | None = None
        self.core: Core | None = None
        self._offline_raised: dict[str, bool] = {}
        self._core_dirty = False  # the core changed since its state was last saved
        self._next_core_save = 0.0  # time.monotonic()
        self._core_save_log: Throttle | None = None
        # Intervals run on clock.monotonic() (clock seconds); only stamps are wall time.
        self._next_tick = 0.0
        self._next_trends = 0.0
        self._next_status = 0.0  # time.monotonic(): real seconds
        self._steps = StepWatch(config.clock.step_s)
        self._steady = SteadyTime(config.clock.slew)
        self.core_time = -math.inf  # the time the core's timed checks last ran at
        self._clock_not_before = NOT_BEFORE
        self._clock_unset = False  # the wall clock was implausible at boot
        self.ready = threading.Event()
        self._lock_fd: int | None = None

    # -- lifecycle --------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the processing loop to finish, from another thread (it wakes at once).

        Not from a signal handler: it takes the queue's lock, which the interrupted
        main thread may hold (:meth:`install_signal_handlers`).
        """
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(("wake", None))

    @property
    def stop_requested(self) -> bool:
        return self._signalled is not None or self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT stop the agent; the handler only sets a flag.

        Python runs a handler in the main thread between two bytecodes, possibly
        inside ``Queue.get`` with the queue's (non-reentrant) lock held: a handler that
        puts on the queue, or sets a ``threading.Event`` (another lock), can deadlock
        the agent for good. The loop wakes every :data:`LOOP_PERIOD_S` and sees the flag.
        """

        def handler(signum: int, _frame: Any) -> None:
            if self._signalled is None:
                self._signalled = signal.Signals(signum).name

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> int:
        """Start everything, process until stopped, shut down. Returns the exit code."""
        self._log_start()
        try:
            self._open()
            self._wait_ready()
            self.notifier.ready(self._status_line())
            self.watchdog.start()
            self.ready.set()
            log.info("ready: %s", self._status_line())
            self._loop()
        finally:
            self._shutdown()
        return 0

    # -- start-up ---------------------------------------------------------------------

    def _log_start(self) -> None:
        c = self.config
        log.info(
            "capleak %s: config %s, bed %s/%s/%s, clock %s",
            _version(),
            c.source or "(built in)",
            c.bed.site,
            c.bed.unit,
            c.bed.bed,
            type(self.clock).__name__,
        )
        if not c.devices:
            log.warning("no devices configured")
        for d in c.devices:
            log.info(
                "device %s: driver %s on %s%s",
                d.id,
                d.driver,
                d.port,
                f" at {d.baudrate} baud" if d.baudrate else "",
            )
        log.info(
            "broker %s (MQTT %s), outbox in %s",
            c.broker.url,
            c.broker.protocol,
            c.storage.state_dir,
        )

    def _open(self) -> None:
        from edge.agent.dispatch import Dispatcher
        from edge.messaging.outbox import STORAGE_ERRORS, Outbox

        c = self.config
        self._lock_state_dir()
        try:
            self.outbox = Outbox.in_dir(
                c.storage.state_dir,
                c.storage.outbox_max_messages,
                self.clock,
                seq_reserve=c.storage.seq_reserve,
            )
            self.core = self._restore_core()
            for d in c.devices:
                self.counters.device_online[d.id] = False
            # Alert book + outbox + publisher; ack/silence are applied there, dose and
            # baseline come back here (_command_arrived) to reach the core.
            self.dispatch = Dispatcher(
                c,
                clock=self.clock,
                outbox=self.outbox,
                on_command=self._command_arrived,
                devices=self._device_list(),
                health=self.health,
            )
            assert self.dispatch is not None
            if len(self.dispatch.book):
                log.info("restored %d active alert(s) from the outbox", len(self.dispatch.book))
            self._end_restored_faults()
            self._restore_offline_flags()
            self._report_outbox_faults()
            self.dispatch.start()  # republishes the active list after a restart
        except STORAGE_ERRORS as e:
            # A person must act (a read-only, full or damaged disk or file): exit 78.
            raise ConfigError(
                "storage.state_dir",
                f"the outbox in {c.storage.state_dir!r} cannot be opened and written "
                f"({type(e).__name__}: {e}); check the disk, its free space, the file's "
                "permissions and attributes (lsattr), or move a damaged outbox.sqlite3 aside "
                "(the seq file beside it keeps seq going)",
            ) from None
        self.publisher = self.dispatch.publisher
        self._start_links()
        mono = self.clock.monotonic()
        self._next_tick = mono + TICK_S
        self._next_trends = mono + c.publish.trends_interval_s
        self._next_status = time.monotonic() + c.publish.status_interval_s
        self._next_core_save = time.monotonic() + c.storage.core_state_interval_s
        if self.outbox.previous_time is not None:
            self._clock_not_before = max(NOT_BEFORE, self.outbox.previous_time)
        self._check_clock_at_boot()

    def _lock_state_dir(self) -> None:
        """One agent per state directory: two would publish one outbox twice."""
        path = Path(self.config.storage.state_dir) / "agent.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another capleak agent is running with state_dir {self.config.storage.state_dir}"
            ) from None
        self._lock_fd = fd  # held (and released by the kernel) for the life of the process

    def _start_links(self) -> None:
        from drivers.registry import get_driver
        from drivers.transport import DeviceLink

        for d in self.config.devices:
            spec = get_driver(d.driver)
            link = DeviceLink(
                serial_settings(d),
                spec,
                self.clock,
                on_reading=self._reading_arrived,
                on_status=self._status_arrived,
            )
            self._links.append(link)
            link.start()

    def _wait_ready(self) -> None:
        """Wait (bounded) until the broker has been tried and each device opened or failed.

        A refused TCP connection counts as tried at once; a reachable broker gets
        :data:`BROKER_WAIT_S` to accept the MQTT connection. Devices get
        :data:`DEVICE_WAIT_S` to open and speak (a scale may stay silent for hours).
        """
        addr = parse_broker_url(self.config.broker.url)
        if not _tcp_reachable(addr.host, addr.port):
            log.warning("broker %s not reachable: buffering in the outbox, retrying", addr)
        elif self.publisher is not None and not self.publisher.wait_connected(BROKER_WAIT_S):
            log.warning("broker %s did not accept the connection yet: retrying", addr)
        deadline = time.monotonic() + DEVICE_WAIT_S
        while time.monotonic() < deadline and not self.stop_requested:
            if all(_link_tried(link) for link in self._links):
                return
            time.sleep(0.02)

    def _status_line(self) -> str:
        online = sum(self.counters.device_online.values())
        connected = bool(getattr(self.publisher, "connected", False))
        depth = self.outbox.depth() if self.outbox is not None else 0
        return (
            f"{online}/{len(self.config.devices)} devices online, "
            f"broker {'connected' if connected else 'not connected'}, outbox {depth}"
        )

    def _device_list(self) -> list[dict[str, Any]]:
        return [
            {"id": d, "state": "online" if up else "offline"}
            for d, up in self.counters.device_online.items()
        ]

    # -- callbacks from other threads: only enqueue ------------------------------------

    def offer(self, reading: Reading) -> None:
        """A reading from a source that is not a device link, taken exactly as a device
        thread's (``capleak fleet`` feeds its virtual patients here; the bedside never calls
        it). Never blocks: a full processing queue drops and counts it."""
        self._reading_arrived(reading)

    @property
    def queued(self) -> int:
        """Items waiting for the processing loop (approximate, as ``Queue.qsize``)."""
        return self._queue.qsize()

    def _reading_arrived(self, reading: Reading) -> None:
        try:
            self._queue.put_nowait(("reading", reading))
        except queue.Full:
            self.counters.dropped += 1
            self.health.drop("readings")
            if self.counters.dropped in (1, 100) or self.counters.dropped % 10_000 == 0:
                log.warning("processing queue full: %d readings dropped", self.counters.dropped)

    def _status_arrived(self, status: DeviceStatus) -> None:
        self._queue.put(("status", status))

    def _command_arrived(self, command: Command) -> Mapping[str, Any] | None:
        """Called on the publisher's thread: hand over to the processing loop, wait."""
        done: Future[Mapping[str, Any] | None] = Future()
        try:
            self._queue.put(("command", (command, done)), timeout=COMMAND_TIMEOUT_S)
            return done.result(COMMAND_TIMEOUT_S)
        except (queue.Full, FutureTimeout):
            from edge.messaging.commands import CommandError

            raise CommandError("busy", "the agent did not take the command in time") from None

    # -- the processing loop ------------------------------------------------------------

    def _loop(self) -> None:
        get = self._queue.get
        while not self.stop_requested:
            self.watchdog.beat()
            try:
                kind, item = get(timeout=LOOP_PERIOD_S)
            except queue.Empty:
                kind, item = "wake", None
            try:
                if kind == "reading":
                    self._process_reading(item)
                elif kind == "status":
                    self._process_status(item)
                elif kind == "command":
                    self._process_command(*item)
                self._process_time()
            except Exception as e:
                # Bad input must never stop the bed's monitoring: log, count, go on;
                # many in a row are a fault (_fault).
                self.counters.errors += 1
                log.exception("error processing %s %r", kind, item)
                self.health.failed("processing", f"{type(e).__name__}: {e}")
            else:
                self.health.succeeded("processing")

    def _process_reading(self, reading: Reading) -> None:
        self.counters.readings += 1
        assert self.dispatch is not None and self.core is not None
        # vitals carry the core's verdict: a station never sees a rejected value as good
        self.dispatch.readings((reading,), (self.core.screen(reading),))
        self._core_dirty = True
        self._handle_outputs(self.core.update(reading))

    def _process_status(self, status: DeviceStatus) -> None:
        device = status.device_id
        online = status.online
        was = self.counters.device_online.get(device)
        self.counters.device_online[device] = online
        t = status.time if status.time is not None else self.clock.now()
        reason = getattr(status, "reason", "") or ""
        if online:
            log.info("device %s online%s", device, f" ({reason})" if reason else "")
            if was is False and self._offline_raised.pop(device, False):
                self._handle_outputs([device_alert(device, Phase.END, t, reason or "online")])
        else:
            log.warning("device %s offline: %s", device, reason or "no data")
            if not self._offline_raised.get(device):
                self._offline_raised[device] = True
                self._handle_outputs([device_alert(device, Phase.START, t, reason or "offline")])
        if self.publisher is not None:
            self.publisher.set_devices(self._device_list())
        self.notifier.status(self._status_line())  # `systemctl status` shows it

    def _process_command(self, command: Command, done: Future[Any]) -> None:
        if done.done():  # the publisher gave up waiting
            return
        assert self.core is not None
        self.counters.commands += 1
        try:
            result, outputs = core_command(command, self.core, self.clock.now())
        except Exception as e:
            done.set_exception(e)
            return
        self._handle_outputs(outputs)
        self._save_core(f"{command.name} command")  # a dose or a baseline: at once
        done.set_result(result)

    def _process_time(self) -> None:
        """Timed work, scheduled on the monotonic clock (``docs/agent.md``, "Time").

        Wall time only stamps: the alert book ticks on it (its deadlines move with a
        step, :meth:`Dispatcher.clock_stepped`); the core's timed checks run on
        :class:`edge.clock.SteadyTime` (never back, never a jump; the core's latest
        reading time pushes it forward).
        """
        assert self.dispatch is not None and self.core is not None
        wall, mono = self.clock.now(), self.clock.monotonic()
        step = self._steps.check(wall, mono)
        if step:
            self._clock_stepped(step, wall)
        if mono >= self._next_tick:
            self._next_tick = mono + TICK_S
            self.core_time = self._steady.update(wall, mono, floor=self.core.now)
            self._handle_outputs(self.core.tick(self.core_time))
            self._log_events(self.dispatch.tick(wall))
            self._clock_settled(wall)
        if mono >= self._next_trends:
            self._next_trends = mono + self.config.publish.trends_interval_s
            self.dispatch.output(self.core.trends(max(self.core_time, self.core.now)))
        if self._core_dirty and time.monotonic() >= self._next_core_save:
            self._save_core("interval")
        if time.monotonic() >= self._next_status and self.publisher is not None:
            self._next_status = time.monotonic() + self.config.publish.status_interval_s
            self.publisher.publish_status()  # the health counters

    def _handle_outputs(self, outputs: Iterable[Output]) -> None:
        assert self.dispatch is not None
        state: dict[str, Any] | None = None
        for out in outputs or ():
            self.counters.outputs += 1
            if isinstance(out, Alert):
                # The core's conditions are committed with the book: after a crash the
                # core still knows every alert the book has open, and ends it.
                if state is None and self.core is not None:
                    state = {CORE_STATE: self._core_state()}
                self._log_events(self.dispatch.alert(out, state))
            else:
                self.dispatch.output(out)  # DoseCheck -> dose-check, TrendSummary -> trends

    def _log_events(self, events: list[AlertEvent]) -> None:
        self.counters.alert_events += len(events)
        for e in events:
            log.info(
                "alert %s %s (%s, %s) at %s: %s",
                e.code,
                e.phase,
                e.priority,
                e.state,
                iso_time(e.time),
                e.message,
            )

    # -- shutdown -----------------------------------------------------------------------

    def _shutdown(self) -> None:
        reason = self._signalled or self._stop_reason or "error"
        log.info("stopping (%s)", reason)
        self.notifier.stopping(f"stopping: {reason}")
        self.watchdog.stop()
        for link in self._links:
            try:
                link.stop()
            except Exception:
                log.exception("closing a device link")
        # What the readers delivered before their ports closed.
        while self.core is not None and self.dispatch is not None:
            try:
                kind, item = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "reading":
                with contextlib.suppress(Exception):
                    self._process_reading(item)
            elif kind == "command":
                item[1].cancel()
        if self.core is not None and self.outbox is not None:
            self._save_core("stop")
        if self.dispatch is not None:
            try:
                drained = self.dispatch.stop(drain_timeout=DRAIN_S)
                log.info("publisher stopped (%s)", "all sent" if drained else "not all sent")
            except Exception:
                log.exception("stopping the publisher")
        if self.outbox is not None:
            left = self.outbox.depth()
            self.outbox.close()
            log.info("stopped; %d message(s) kept in the outbox for the next start", left)
        self.notifier.close()


def core_command(command: Command, core: Core, now: float) -> tuple[dict[str, Any], list[Output]]:
    """Apply an operator's ``dose`` or ``baseline`` command to the core.

    ``command`` is an :class:`edge.messaging.commands.Command`.

    Returns ``(reply result, core outputs)``. Raises ``ValueError`` (the publisher
    turns it into an error reply) and changes nothing when the command is wrong.
    ``ack`` and ``silence`` never come here: the dispatcher applies them to the
    alert book.
    """
    args = command.args
    if command.name == "dose":
        given = args.get("given_at")
        t = parse_time(given) if isinstance(given, str) else now
        return {"given_at": iso_time(t)}, list(core.dose(t) or [])
    if command.name == "baseline":
        at = args.get("measured_at")
        t = parse_time(at) if isinstance(at, str) else now
        value = float(args["value"])
        core.set_baseline(args["signal"], value, t)
        return {"signal": args["signal"], "value": value}, []
    raise ValueError(f"the agent does not handle the command {command.name!r}")


def serial_settings(device: DeviceConfig) -> SerialSettings:
    """The transport's view of a configured device (:class:`drivers.transport.SerialSettings`).

    The drivers define what they need and import nothing of the app; the runtime,
    which wires them, is the one place the app's configuration is turned into it.
    """
    from drivers.transport import SerialSettings

    return SerialSettings(
        device_id=device.id,
        port=device.port,
        baudrate=device.baudrate,
        bytesize=device.bytesize,
        parity=device.parity,
        stopbits=device.stopbits,
        xonxoff=device.xonxoff,
        rtscts=device.rtscts,
        poll_interval_s=device.poll_interval_s,
        max_quiet_s=device.max_quiet_s,
        options=dict(device.options),
    )


def _link_tried(link: DeviceLink) -> bool:
    """The link has opened its port and heard from the device, or failed trying."""
    return link.online is not None or link.reconnects > 0 or link.bytes_in > 0
