"""What the gateway does with one MQTT message, and with the passing of time (no I/O but the store).

:meth:`Forwarder.receive` takes a message of the MQTT contract (``docs/messaging.md``):

* ``vitals`` -> one PCD-01 (and a Bundle of Observations when FHIR is on);
* ``alerts`` -> one PCD-04 per alert event (and a Communication); the alert is tracked
  while it stands (active or latched), forgotten when it ends;
* ``alerts/active`` (retained, after every change) -> reconciliation with the bed's
  alert book: a standing alert the gateway never saw (it started before the gateway's
  first subscription) is reported with phase ``start``; a tracked alert missing from
  the list ended unseen and is reported ``end``; inactivation and state are taken over.
  A list older than the last alert event the gateway took (by ``seq``) is ignored.

Every payload is checked against its JSON Schema (``edge/messaging/schemas``) first;
one that fails is logged and skipped, never forwarded. Duplicates (by ``msg_id``) are
skipped. What a message produces is committed with its ``msg_id`` in one transaction.

:meth:`Forwarder.tick` re-sends a PCD-04 ``continue`` for every standing alert not
reported for ``continue_s``, with its current state and inactivation, so the receiver's
acknowledgement state stays in step with the bed's alert book.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge.messaging.commands import check, load_schema, quote
from edge.station.gateway import fhir, hl7v2
from edge.station.gateway.store import Store
from edge.vocabulary import SIGNALS, parse_time

log = logging.getLogger(__name__)

TOPIC_PREFIX = "capleak/v1/"
SCHEMAS = {"vitals": "vitals", "alerts": "alert", "alerts/active": "alerts-active"}
STANDING = ("active", "latched")
#: The receiver log quotes at most this much of a bad payload.
LOG_QUOTE = 120


def new_control_id() -> str:
    """MSH-10: unique per message (HL7 v2.6 ST; 20 hex digits of a uuid4)."""
    return uuid.uuid4().hex[:20]


@dataclass(frozen=True, slots=True)
class Outputs:
    """Which receivers are on: HL7 always; FHIR as a directory or a server (or neither)."""

    fhir: str | None = None  # None, "dir" or "url"


class Forwarder:
    """MQTT messages in, queued HL7 (and FHIR) messages out."""

    def __init__(
        self,
        store: Store,
        *,
        continue_s: float = 30.0,
        outputs: Outputs | None = None,
        header: hl7v2.Header | None = None,
        filter: str | None = None,
    ) -> None:
        self.store = store
        self.continue_s = continue_s
        self.outputs = outputs or Outputs()
        self.header = header or hl7v2.Header()
        self.filter = filter.strip("/") if filter else None
        self.counts: Counter[str] = Counter()

    def subscriptions(self) -> list[str]:
        """The topics to subscribe to (QoS 1), narrowed by the filter."""
        levels = self.filter.split("/") if self.filter else []
        base = "/".join([*levels, *["+"] * (3 - len(levels))])
        return [f"{TOPIC_PREFIX}{base}/{kind}" for kind in SCHEMAS]

    # -- MQTT messages ------------------------------------------------------------------

    def receive(self, topic: str, payload: bytes, now: float, retained: bool = False) -> str:
        """Take one message; returns what became of it (``forwarded``, ``duplicate``,
        ``invalid``, ``stale``, ``ignored``)."""
        if not topic.startswith(TOPIC_PREFIX):
            return self._count("ignored")
        parts = topic[len(TOPIC_PREFIX) :].split("/", 3)
        if len(parts) < 4 or parts[3] not in SCHEMAS:
            return self._count("ignored")
        bed, kind = "/".join(parts[:3]), parts[3]
        if self.filter and not (bed + "/").startswith(self.filter + "/"):
            return self._count("ignored")
        if not payload:
            return self._count("ignored")  # a cleared retained message
        try:
            body = json.loads(payload, parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            return self._invalid(topic, f"bad JSON: {e}", payload)
        problem = check(body, load_schema(SCHEMAS[kind]))
        if problem is None:
            problem = _semantic_problem(kind, body)
        if problem:
            return self._invalid(topic, problem, payload)
        with self.store.transaction() as tx:
            if not tx.first_sight(str(body["msg_id"])):
                return self._count("duplicate")
            if kind == "vitals":
                self._vitals(tx, bed, body, now)
            elif kind == "alerts":
                self._alert(tx, bed, body, now)
            elif not self._active_list(tx, bed, body, now):
                return self._count("stale")
        return self._count("forwarded")

    def _count(self, outcome: str) -> str:
        self.counts[outcome] += 1
        return outcome

    def _invalid(self, topic: str, problem: str, payload: bytes) -> str:
        log.warning(
            "skipped a message on %s that fails its schema: %s (payload %s)",
            quote(topic, LOG_QUOTE),
            problem,
            quote(payload, LOG_QUOTE),
        )
        return self._count("invalid")

    def _vitals(self, tx: Store, bed: str, body: Mapping[str, Any], now: float) -> None:
        cid = new_control_id()
        tx.enqueue(
            "hl7",
            "vitals",
            bed,
            cid,
            hl7v2.pcd01(bed, body, control_id=cid, now=now, header=self.header),
            now,
        )
        if self.outputs.fhir:
            bundle = fhir.vitals_bundle(bed, body, transaction=self.outputs.fhir == "url")
            if bundle["entry"]:
                tx.enqueue("fhir", "vitals", bed, cid, json.dumps(bundle), now)

    def _report(
        self,
        tx: Store,
        bed: str,
        event: Mapping[str, Any],
        now: float,
        msg_id: str,
        *,
        phase: str | None = None,
        fhir_too: bool = True,
    ) -> None:
        cid = new_control_id()
        msg = hl7v2.pcd04(bed, event, control_id=cid, now=now, phase=phase, header=self.header)
        tx.enqueue("hl7", "alert", bed, cid, msg, now)
        if fhir_too and self.outputs.fhir:
            ev = dict(event, phase=phase) if phase else event
            bundle = fhir.alert_bundle(bed, ev, msg_id, transaction=self.outputs.fhir == "url")
            tx.enqueue("fhir", "alert", bed, cid, json.dumps(bundle), now)

    def _alert(self, tx: Store, bed: str, body: Mapping[str, Any], now: float) -> None:
        event = dict(body["alert"])
        self._report(tx, bed, event, now, str(body["msg_id"]))
        if event["state"] in STANDING and event["phase"] != "end":
            tx.track(bed, str(event["alert_id"]), event, now)
        else:
            tx.untrack(bed, str(event["alert_id"]))
        tx.set_alert_seq(bed, int(body["seq"]))

    def _active_list(self, tx: Store, bed: str, body: Mapping[str, Any], now: float) -> bool:
        if int(body["seq"]) < tx.alert_seq(bed):
            return False  # older than an alert event already taken: not the book's state
        listed = {str(a["alert_id"]): a for a in body["alerts"]}
        tracked = {t.alert_id: t for t in tx.tracked(bed)}
        msg_id = str(body["msg_id"])
        for alert_id, entry in listed.items():
            if alert_id in tracked:
                old = tracked[alert_id].event
                event = {**old, **entry}
                if event != old:
                    tx.track(bed, alert_id, event, tracked[alert_id].last_sent)
                continue
            event = {**entry, "phase": "start", "event_time": body["time"]}
            self._report(tx, bed, event, now, msg_id)
            tx.track(bed, alert_id, event, now)
        for alert_id, t in tracked.items():
            if alert_id not in listed:
                log.warning("%s: alert %s ended unseen (not in alerts/active)", bed, alert_id)
                event = {**t.event, "phase": "end", "state": "inactive", "event_time": body["time"]}
                self._report(tx, bed, event, now, msg_id)
                tx.untrack(bed, alert_id)
        tx.set_alert_seq(bed, int(body["seq"]))
        return True

    # -- time ---------------------------------------------------------------------------

    def tick(self, now: float) -> int:
        """Queue a PCD-04 ``continue`` for each standing alert silent for ``continue_s``."""
        due = [t for t in self.store.tracked() if now - t.last_sent >= self.continue_s]
        if not due:
            return 0
        with self.store.transaction() as tx:
            for t in due:
                self._report(tx, t.bed, t.event, now, "", phase="continue", fhir_too=False)
                tx.track(t.bed, t.alert_id, t.event, now)
        self.counts["continues"] += len(due)
        return len(due)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _semantic_problem(kind: str, body: Mapping[str, Any]) -> str | None:
    """What the schema cannot say: times are real dates, a reading's unit and MDC code are
    its signal's (a PCD-01 OBX would otherwise carry one code with another's unit)."""
    times = [body["time"]]
    if kind == "vitals":
        times += [r["time"] for r in body["readings"] if "time" in r]
        for i, r in enumerate(body["readings"]):
            info = SIGNALS[r["signal"]]
            if r["unit"] != info.unit.value or r["mdc"] != info.mdc_code:
                return (
                    f"$.readings[{i}]: {r['signal']} is {info.unit.value} / MDC "
                    f"{info.mdc_code}, got {quote(r['unit'])} / {quote(r['mdc'])}"
                )
    elif kind == "alerts":
        times += [body["alert"]["since"], body["alert"]["event_time"]]
    else:
        times += [a["since"] for a in body["alerts"]]
    for t in times:
        try:
            parse_time(str(t))
        except ValueError:
            return f"not a time: {quote(t)}"
    return None
