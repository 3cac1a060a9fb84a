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
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent.sdnotify import Notifier, Watchdog
from edge.clock import Clock, SystemClock
from edge.config import Config, ConfigError, DeviceConfig
from edge.messaging.health import Health, Throttle
from edge.messaging.mqtt import parse_broker_url
from edge.vocabulary import (
    Alert,
    AlertCode,
    Kind,
    Phase,
    Priority,
    Reading,
    iso_time,
    parse_time,
)

if TYPE_CHECKING:  # imported lazily at run time: `capleak --help` stays fast
    from drivers.transport import DeviceLink, DeviceStatus, SerialSettings
    from edge.agent.dispatch import Dispatcher
    from edge.core import Core, Output
    from edge.messaging.alerts import AlertEvent
    from edge.messaging.commands import Command
    from edge.messaging.outbox import Outbox
    from edge.messaging.publisher import Publisher

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
#: The outbox state key of the core's snapshot (``edge.core.state``).
CORE_STATE = "core"


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


class Runtime:
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
        self._next_tick = 0.0
        self._next_trends = 0.0
        self._next_status = 0.0  # time.monotonic()
        self.ready = threading.Event()
        self._lock_fd: int | None = None

    # -- lifecycle --------------------------------------------------------------------

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the processing loop to finish (thread- and signal-safe)."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(("wake", None))

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            self.stop(signal.Signals(signum).name)

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
        import sqlite3

        from edge.agent.dispatch import Dispatcher
        from edge.messaging.outbox import Outbox

        c = self.config
        self._lock_state_dir()
        try:
            self.outbox = Outbox.in_dir(
                c.storage.state_dir, c.storage.outbox_max_messages, self.clock
            )
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(
                "storage.state_dir", f"cannot open the outbox in {c.storage.state_dir!r}: {e}"
            ) from None
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
        self.dispatch.start()  # republishes the active list after a restart
        self.publisher = self.dispatch.publisher
        self._start_links()
        now = self.clock.now()
        self._next_tick = now + TICK_S
        self._next_trends = now + c.publish.trends_interval_s
        self._next_status = time.monotonic() + c.publish.status_interval_s
        self._next_core_save = time.monotonic() + c.storage.core_state_interval_s

    def _restore_core(self) -> Core:
        """The core as it was saved before the restart (``edge.core.state``), else a fresh one.

        Not restored: a state saved for another bed, or older than
        ``storage.core_state_max_age_h`` (another admission: its baselines are not this
        patient's), logged; a state that cannot be read or does not fit, logged and
        shown in ``status.faults.core_state`` (baselines are being learned again).
        """
        from edge.core import Core

        c = self.config
        assert self.outbox is not None
        bed = f"{c.bed.site}/{c.bed.unit}/{c.bed.bed}"
        try:
            saved = self.outbox.get_state(CORE_STATE)
        except Exception as e:  # a damaged row: the bed must still be monitored
            saved, problem = None, f"{type(e).__name__}: {e}"
        else:
            problem = ""
        if saved is not None:
            try:
                age_h = (self.clock.now() - float(saved["saved_at"])) / 3600.0
                if saved.get("bed") != bed:
                    log.warning("saved core state is for bed %s, not %s: not restored",
                                saved.get("bed"), bed)  # fmt: skip
                elif age_h > c.storage.core_state_max_age_h:
                    log.warning(
                        "saved core state is %.1f h old (storage.core_state_max_age_h %g): "
                        "not restored, baselines are learned again",
                        age_h,
                        c.storage.core_state_max_age_h,
                    )
                else:
                    core = Core.from_snapshot(c, saved["core"])
                    log.info(
                        "restored core state saved %s: baselines %s, %d dose(s) given, last %s, "
                        "active %s",
                        iso_time(float(saved["saved_at"])),
                        {s: (b["value"], b["source"]) for s, b in core.baselines().items()},
                        core.schedule.given,
                        iso_time(core.schedule.last_dose) if core.schedule.last_dose else "-",
                        core.active or "-",
                    )
                    return core
            except (KeyError, TypeError, ValueError) as e:
                problem = f"{type(e).__name__}: {e}"
        if problem:
            log.error("cannot restore the saved core state (%s): starting fresh", problem)
            self.health.set_fault("core_state", f"not restored, starting fresh: {problem}")
        return Core(c)

    def _core_state(self) -> dict[str, Any]:
        """The core's snapshot as stored in the outbox's state table."""
        assert self.core is not None
        c = self.config.bed
        return {
            "saved_at": self.clock.now(),
            "bed": f"{c.site}/{c.unit}/{c.bed}",
            "core": self.core.snapshot(),
        }

    def _save_core(self, why: str) -> None:
        """Store the core's snapshot now (one transaction); a failure is counted, never fatal."""
        from edge.messaging.outbox import STORAGE_ERRORS

        if self.outbox is None or self.core is None:
            return
        self._next_core_save = time.monotonic() + self.config.storage.core_state_interval_s
        try:
            self.outbox.set_state(CORE_STATE, self._core_state())
        except STORAGE_ERRORS as e:
            self.health.failed("storage", f"{type(e).__name__}: {e}")
            if self._core_save_log is None:
                self._core_save_log = Throttle()
            self._core_save_log.log(log, logging.ERROR, "cannot save the core state (%s): %s",
                                    why, e)  # fmt: skip
            return
        self.health.succeeded("storage")
        self._core_dirty = False
        log.debug("core state saved (%s)", why)

    def _restore_offline_flags(self) -> None:
        """``device_offline`` alerts active at the restart belong to the devices again.

        A device still offline does not raise a second start; one that comes back ends
        its alert (``_process_status``); one no longer configured ends it now.
        """
        assert self.dispatch is not None
        configured = {d.id for d in self.config.devices}
        for a in self.dispatch.book.active():
            if a["code"] != AlertCode.DEVICE_OFFLINE or a["state"] != "active":
                continue
            device = a.get("source", "")
            if device in configured:
                self._offline_raised[device] = True
                log.info("device %s was offline at the restart: its alert stays open", device)
            else:
                log.warning("device %s is no longer configured: ending its device_offline", device)
                end = device_alert(device, Phase.END, self.clock.now(), "no longer configured")
                self._log_events(self.dispatch.alert(end))

    def _end_restored_faults(self) -> None:
        """An ``agent_fault`` active before the restart ends now (and latches until acked)."""
        assert self.dispatch is not None
        for a in self.dispatch.book.active():
            if a["code"] == AlertCode.AGENT_FAULT and a["state"] == "active":
                source = a.get("source", "")
                log.warning("agent_fault (%s) from before the restart: ending it", source)
                end = agent_fault(source, Phase.END, self.clock.now(), "agent restarted")
                self._log_events(self.dispatch.alert(end))

    def _fault(self, where: str, reason: str) -> None:
        """``fault_after_errors`` errors in a row at ``where``: alert, then let systemd restart."""
        n = self.health.fault_after
        log.error("%d consecutive %s errors (last: %s): agent fault", n, where, reason)
        self.health.set_fault(where, f"{n} consecutive errors: {reason}")
        self._faulted.add(where)
        self.watchdog.fail(f"{n} consecutive {where} errors")
        self.notifier.status(f"agent fault: {n} consecutive {where} errors: {reason}")
        if self.publisher is not None:
            self.publisher.publish_status()  # the station learns it even if no alert can be stored
        if self.dispatch is not None:
            try:
                alert = agent_fault(where, Phase.START, self.clock.now(), reason)
                self._log_events(self.dispatch.alert(alert))
            except Exception:  # the fault may be in the very path the alert takes
                log.exception("could not raise agent_fault")

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
        while time.monotonic() < deadline and not self._stop.is_set():
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
        while not self._stop.is_set():
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
                self._process_time(self.clock.now())
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

    def _process_time(self, now: float) -> None:
        assert self.dispatch is not None and self.core is not None
        if now >= self._next_tick:
            self._next_tick = now + TICK_S
            self._handle_outputs(self.core.tick(now))
            self._log_events(self.dispatch.tick(now))
        if now >= self._next_trends:
            self._next_trends = now + self.config.publish.trends_interval_s
            self.dispatch.output(self.core.trends(now))
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
        reason = self._stop_reason or "error"
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


def device_alert(device: str, phase: Phase, time: float, reason: str) -> Alert:
    """The technical ``device_offline`` alert for ``device`` (start when it goes, end when back).

    Medium priority: a silent monitor needs a prompt look (IEC 60601-1-8 via
    ``shared/docs/messaging-and-ops.md``), not an immediate one; so it does not
    latch and ends by itself when the device is back.
    """
    message = (
        f"device {device} offline: {reason}"
        if phase == Phase.START
        else f"device {device} back online"
    )
    return Alert(
        AlertCode.DEVICE_OFFLINE,
        Priority.MEDIUM,
        Kind.TECHNICAL,
        phase,
        time,
        message,
        {"reason": reason},
        source=device,
    )


def agent_fault(where: str, phase: Phase, time: float, reason: str) -> Alert:
    """The technical ``agent_fault`` alert: the agent itself fails at ``where``.

    High priority, like the storage fault of the dispatcher
    (:func:`edge.agent.dispatch.storage_fault`): the bed's alerts may be late or
    missing; it latches when it ends, so the station keeps it until acknowledged.
    """
    message = (
        f"agent fault ({where}): {reason}; the agent restarts"
        if phase == Phase.START
        else f"agent fault ({where}) over: {reason}"
    )
    return Alert(
        AlertCode.AGENT_FAULT,
        Priority.HIGH,
        Kind.TECHNICAL,
        phase,
        time,
        message,
        {"reason": reason},
        source=where,
    )


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


def _tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


def _link_tried(link: DeviceLink) -> bool:
    """The link has opened its port and heard from the device, or failed trying."""
    return link.online is not None or link.reconnects > 0 or link.bytes_in > 0


def _version() -> str:
    from edge import __version__

    return __version__


def configure_logging(verbose: int = 0) -> None:
    """Concise logs for a terminal or journald (no timestamps under systemd: journald adds them)."""
    level = logging.DEBUG if verbose >= 2 else logging.INFO
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(message)s"
    logging.basicConfig(level=level, format=fmt, force=True)


def state_dir_writable(path: str) -> None:
    """Raise :class:`ConfigError` when ``storage.state_dir`` cannot hold the outbox."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError("storage.state_dir", f"cannot create {path!r}: {e.strerror}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError("storage.state_dir", f"{path!r} is not writable by this user")
