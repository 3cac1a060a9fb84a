"""FHIR R4 resources from capleak's MQTT payloads (pure: dicts in, JSON-ready dicts out).

**Vitals** become vital-signs ``Observation``s (category ``vital-signs``), one per
reading, coded with LOINC first and the IEEE 11073 MDC code second, the value as a
UCUM ``Quantity``:

=========  =====================  ==========  ========
signal     LOINC                  MDC         UCUM
=========  =====================  ==========  ========
spo2       2708-6 (and 59408-5)   150456      ``%``
sbp        8480-6                 150021      ``mm[Hg]``
dbp        8462-4                 150022      ``mm[Hg]``
map        8478-0                 150023      ``mm[Hg]``
pulse      8867-4                 149530      ``/min``
weight     29463-7                188736      ``kg``
=========  =====================  ==========  ========

``pi`` (perfusion) has no LOINC vital-signs code and its scale depends on the device
(``edge/vocabulary.py``): it is not sent as FHIR.

**Alerts** become ``Communication``s, one per alert event: an alert event is a
notice to people (who, what, how urgent, when), which is what ``Communication`` is;
``DetectedIssue`` describes a clinical problem with a patient's *orders* (drug
interactions, duplicate therapy) and has no place for an alarm's lifecycle.
``Communication.status`` is ``in-progress`` while the alert stands (active or latched)
and ``completed`` when it ended; ``priority`` maps high/medium/low to
``stat``/``urgent``/``routine``; the payload is the alert's message; ``identifier``
carries the alert's id (``urn:capleak:alert``) and the event's MQTT ``msg_id``;
``topic`` carries the capleak code, the ACM phase, state and inactivation.

**Idempotent on a server.** Every resource carries an identifier that is the same each
time the gateway builds it from the same MQTT message: an Observation
``urn:capleak:reading`` = ``<msg_id>/<index of the reading in the message>``, a
Communication ``urn:capleak:event`` = ``<msg_id>/<alert_id>/<phase>`` (an ``alerts/active``
list reports several alerts under one ``msg_id``). A ``transaction`` entry asks for a
conditional create on it (``request.ifNoneExist``, FHIR R4 3.1.0.8.1, "Conditional
create"), so a Bundle sent again after a ``kill -9`` (accepted by the server, not yet
deleted from the gateway's store) does not store anything twice on a server that
supports it; one that does not still has the identifier to de-duplicate by.

No patient: an Observation's ``subject`` (a Communication's ``about``) is the bed, as a
logical reference to a ``Location`` (``identifier`` ``urn:capleak:bed`` = ``site/unit/bed``);
the receiving system binds it to the admitted patient. Observations written to a
directory go in a ``collection`` Bundle; POSTed to a server, in a ``transaction`` Bundle
(``request`` POST per entry).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from edge.vocabulary import SIGNALS

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
BED_SYSTEM = "urn:capleak:bed"
ALERT_SYSTEM = "urn:capleak:alert"
MSG_SYSTEM = "urn:capleak:msg"
READING_SYSTEM = "urn:capleak:reading"
EVENT_SYSTEM = "urn:capleak:event"
CODE_SYSTEM = "urn:capleak:alert-code"

#: signal -> LOINC codes (display) for the FHIR vital-signs profile; the first is primary.
VITAL_LOINC: Mapping[str, tuple[tuple[str, str], ...]] = {
    "spo2": (
        ("2708-6", "Oxygen saturation in Arterial blood"),
        ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    ),
    "sbp": (("8480-6", "Systolic blood pressure"),),
    "dbp": (("8462-4", "Diastolic blood pressure"),),
    "map": (("8478-0", "Mean blood pressure"),),
    "pulse": (("8867-4", "Heart rate"),),
    "weight": (("29463-7", "Body weight"),),
}

#: The identifier a transaction entry's conditional create matches on.
_CONDITIONAL = (READING_SYSTEM, EVENT_SYSTEM)

PRIORITY = {"high": "stat", "medium": "urgent", "low": "routine"}


def bed_reference(bed: str) -> dict[str, Any]:
    return {
        "type": "Location",
        "identifier": {"system": BED_SYSTEM, "value": bed},
        "display": f"bed {bed}",
    }


def observation(
    bed: str, reading: Mapping[str, Any], fallback_time: str, ident: str | None = None
) -> dict[str, Any] | None:
    """One reading -> a vital-signs Observation (None for a signal FHIR has no code for);
    ``ident``, when given, becomes its ``urn:capleak:reading`` identifier."""
    signal = str(reading["signal"])
    codes = VITAL_LOINC.get(signal)
    if codes is None:
        return None
    info = SIGNALS[signal]
    coding = [{"system": LOINC, "code": c, "display": d} for c, d in codes]
    coding.append({"system": MDC, "code": str(info.mdc_code), "display": info.mdc_refid})
    unit = info.unit.value
    obs: dict[str, Any] = {"resourceType": "Observation"}
    if ident is not None:
        obs["identifier"] = [{"system": READING_SYSTEM, "value": ident}]
    return obs | {
        "status": "final",
        "category": [
            {"coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}
        ],
        "code": {"coding": coding, "text": info.description},
        "subject": bed_reference(bed),
        "effectiveDateTime": str(reading.get("time") or fallback_time),
        "valueQuantity": {
            "value": float(reading["value"]),
            "unit": unit,
            "system": UCUM,
            "code": unit,
        },
        "device": {"display": str(reading["source"])},
    }


def vitals_bundle(bed: str, vitals: Mapping[str, Any], *, transaction: bool) -> dict[str, Any]:
    """A ``vitals`` payload -> a Bundle of Observations (possibly with no entry)."""
    msg_id = str(vitals["msg_id"])
    obs = [
        observation(bed, r, str(vitals["time"]), f"{msg_id}/{i}")
        for i, r in enumerate(vitals["readings"])
    ]
    return _bundle([o for o in obs if o is not None], str(vitals["time"]), transaction)


def communication(bed: str, event: Mapping[str, Any], msg_id: str) -> dict[str, Any]:
    """One alert event -> a Communication."""
    standing = event["state"] in ("active", "latched") and event["phase"] != "end"
    topic = (
        f"{event['code']} {event['phase']} ({event['state']}, {event['inactivation']}, "
        f"{event['priority']} {event['kind']})"
    )
    return {
        "resourceType": "Communication",
        "identifier": [
            {"system": ALERT_SYSTEM, "value": str(event["alert_id"])},
            {"system": MSG_SYSTEM, "value": msg_id},
            {
                "system": EVENT_SYSTEM,
                "value": f"{msg_id}/{event['alert_id']}/{event['phase']}",
            },
        ],
        "status": "in-progress" if standing else "completed",
        "category": [
            {"coding": [{"system": CODE_SYSTEM, "code": str(event["kind"])}], "text": "alert"}
        ],
        "priority": PRIORITY[str(event["priority"])],
        "about": [bed_reference(bed)],
        "topic": {
            "coding": [{"system": CODE_SYSTEM, "code": str(event["code"])}],
            "text": topic,
        },
        "sent": str(event.get("event_time") or event["since"]),
        "payload": [{"contentString": str(event.get("message") or event["code"])}],
    }


def alert_bundle(
    bed: str, event: Mapping[str, Any], msg_id: str, *, transaction: bool
) -> dict[str, Any]:
    return _bundle(
        [communication(bed, event, msg_id)],
        str(event.get("event_time") or event["since"]),
        transaction,
    )


def _bundle(resources: list[dict[str, Any]], time: str, transaction: bool) -> dict[str, Any]:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r}
        if transaction:
            entry["request"] = {"method": "POST", "url": r["resourceType"]}
            key = next((i for i in r.get("identifier", ()) if i["system"] in _CONDITIONAL), None)
            if key is not None:
                entry["request"]["ifNoneExist"] = f"identifier={key['system']}|{key['value']}"
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "transaction" if transaction else "collection",
        "timestamp": time,
        "entry": entries,
    }
