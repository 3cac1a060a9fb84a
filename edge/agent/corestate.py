"""The core's state across restarts: restored at start-up, saved while the agent runs.

The core does no I/O (``edge.core.state``): the runtime stores its snapshot in the
outbox's state table under :data:`CORE_STATE`, with every alert event, after a dose
or baseline command, every ``storage.core_state_interval_s`` and on stop
(``docs/agent.md``). :class:`CoreStatePersistence` is the part of
:class:`edge.agent.runtime.Runtime` that does it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from edge.messaging.health import Throttle
from edge.vocabulary import iso_time

if TYPE_CHECKING:
    from edge.clock import Clock
    from edge.config import Config
    from edge.core import Core
    from edge.messaging.health import Health
    from edge.messaging.outbox import Outbox

log = logging.getLogger("capleak.runtime")

#: The outbox state key of the core's snapshot (``edge.core.state``).
CORE_STATE = "core"


class CoreStatePersistence:
    """Restores and saves the core's snapshot; a mixin of :class:`edge.agent.runtime.Runtime`."""

    config: Config
    clock: Clock
    health: Health
    outbox: Outbox | None
    core: Core | None
    _core_dirty: bool
    _next_core_save: float
    _core_save_log: Throttle | None

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
