"""The technical alerts the agent raises about its devices and itself.

``device_offline`` (a device stopped talking) and ``agent_fault`` (the agent fails
somewhere: errors in a row, an outbox whose ``seq`` went back).
:class:`TechnicalAlerts` is the part of :class:`edge.agent.runtime.Runtime` that
raises them at start-up and on a fault.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edge.vocabulary import Alert, AlertCode, Kind, Phase, Priority

if TYPE_CHECKING:
    from edge.agent.dispatch import Dispatcher
    from edge.agent.sdnotify import Notifier, Watchdog
    from edge.clock import Clock
    from edge.config import Config
    from edge.messaging.alerts import AlertEvent
    from edge.messaging.health import Health
    from edge.messaging.outbox import Outbox
    from edge.messaging.publisher import Publisher

log = logging.getLogger("capleak.runtime")


class TechnicalAlerts:
    """Raises and ends ``device_offline`` and ``agent_fault``; a mixin of the runtime."""

    config: Config
    clock: Clock
    health: Health
    notifier: Notifier
    watchdog: Watchdog
    outbox: Outbox | None
    publisher: Publisher | None
    dispatch: Dispatcher | None
    _faulted: set[str]
    _offline_raised: dict[str, bool]

    if TYPE_CHECKING:

        def _log_events(self, events: list[AlertEvent]) -> None: ...

    def _report_outbox_faults(self) -> None:
        """What the outbox's open found goes to ``status.faults``; a seq reset also alerts.

        The reset is over by the time anyone hears of it (``seq`` goes on from the
        ``seq`` file), but the messages and the alert book stored last may be lost: a
        high-priority ``agent_fault`` (source ``outbox``) starts and ends at once, so it
        latches until a person acknowledges it.
        """
        assert self.outbox is not None and self.dispatch is not None
        for name, why in self.outbox.faults.items():
            self.health.set_fault(name, why)
        reset = self.outbox.faults.get("seq_reset")
        if reset is not None:
            now = self.clock.now()
            for phase in (Phase.START, Phase.END):
                self._log_events(self.dispatch.alert(seq_reset_alert(phase, now, reset)))

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
    return fault_alert(where, phase, time, message, {"reason": reason})


def fault_alert(
    source: str, phase: Phase, time: float, message: str, values: dict[str, str]
) -> Alert:
    """An ``agent_fault`` event (high priority, technical) from ``source``: every kind of
    agent fault (processing, storage, a ``seq`` reset) is built here."""
    return Alert(
        AlertCode.AGENT_FAULT, Priority.HIGH, Kind.TECHNICAL, phase, time, message, values,
        source=source,
    )  # fmt: skip


def seq_reset_alert(phase: Phase, time: float, reason: str) -> Alert:
    """The technical ``agent_fault`` (source ``outbox``) for an outbox whose ``seq`` went back.

    High priority like the other agent faults: the last stored messages (alert events
    among them) and the alert book may be lost, so a person must look at the bed.
    """
    message = (
        f"the outbox lost data: {reason}"
        if phase == Phase.START
        else "the outbox goes on; alerts stored before the loss may be missing"
    )
    return fault_alert("outbox", phase, time, message, {"reason": reason})
