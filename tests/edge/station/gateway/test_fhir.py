"""FHIR output validates against the R4 structures (``fhir.resources``, a test dependency).

fhir.resources 8.x ships R5 (default), R4B and STU3; R4B's Observation, Communication
and Bundle are the R4 (4.0.1) structures (R4B changed other resources), so R4B is what
these tests validate against.
"""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.observation import Observation

from edge.station.gateway import fhir
from tests.edge.station.gateway.test_hl7v2 import ALERT, BED, OFFLINE, VITALS, reading

LOINC = {"spo2": "2708-6", "sbp": "8480-6", "dbp": "8462-4", "map": "8478-0"}
LOINC |= {"pulse": "8867-4", "weight": "29463-7"}


@pytest.mark.parametrize("transaction", [False, True])
def test_vitals_bundle_validates_with_loinc_and_ucum(transaction: bool) -> None:
    vit = {**VITALS, "readings": [*VITALS["readings"], reading("pi", 1.2, "masimo", 0.0)]}
    bundle = fhir.vitals_bundle(BED, vit, transaction=transaction)
    Bundle.model_validate(bundle)
    assert bundle["type"] == ("transaction" if transaction else "collection")
    obs = [Observation.model_validate(e["resource"]) for e in bundle["entry"]]
    assert len(obs) == 6, "pi has no FHIR vital-signs code and is not sent"
    for o, r in zip(obs, VITALS["readings"], strict=True):
        assert o.code.coding[0].system == "http://loinc.org"
        assert o.code.coding[0].code == LOINC[r["signal"]]
        assert o.category[0].coding[0].code == "vital-signs"
        assert o.valueQuantity.system == "http://unitsofmeasure.org"
        assert o.valueQuantity.code == r["unit"] and float(o.valueQuantity.value) == r["value"]
        assert o.subject.identifier.value == BED
    if transaction:
        assert {e["request"]["url"] for e in bundle["entry"]} == {"Observation"}


def test_alert_events_are_valid_communications() -> None:
    for event, status, prio in ((ALERT, "in-progress", "stat"), (OFFLINE, "completed", "urgent")):
        bundle = fhir.alert_bundle(BED, event, "m-1", transaction=False)
        Bundle.model_validate(bundle)
        c = Communication.model_validate(bundle["entry"][0]["resource"])
        assert (c.status, c.priority) == (status, prio)
        assert c.identifier[0].value == event["alert_id"]
        assert c.payload[0].contentString == event["message"]
        assert c.about[0].identifier.value == BED


def test_the_validator_would_catch_a_broken_observation() -> None:
    """The check above can fail: the R4 structure refuses a missing code or a bad value."""
    o = fhir.observation(BED, VITALS["readings"][0], VITALS["time"])
    assert o is not None
    with pytest.raises(ValueError):
        Observation.model_validate({k: v for k, v in o.items() if k != "code"})
    with pytest.raises(ValueError):
        Observation.model_validate({**o, "valueQuantity": {"value": "ninety"}})


def test_every_resource_has_a_stable_identifier_and_a_transaction_creates_it_once() -> None:
    """A Bundle re-sent after a kill must not store twice: the identifiers come from the
    MQTT message alone, and a transaction entry is a conditional create on them."""
    a = fhir.vitals_bundle(BED, VITALS, transaction=True)
    b = fhir.vitals_bundle(BED, VITALS, transaction=True)
    Bundle.model_validate(a)
    ids = [e["resource"]["identifier"][0]["value"] for e in a["entry"]]
    assert ids == [e["resource"]["identifier"][0]["value"] for e in b["entry"]]
    assert ids == [f"{VITALS['msg_id']}/{i}" for i in range(len(VITALS["readings"]))]
    for e in a["entry"]:
        ident = e["resource"]["identifier"][0]
        assert ident["system"] == "urn:capleak:reading"
        assert e["request"]["ifNoneExist"] == f"identifier=urn:capleak:reading|{ident['value']}"
    other = fhir.vitals_bundle(BED, {**VITALS, "msg_id": "m2"}, transaction=True)
    assert not set(ids) & {e["resource"]["identifier"][0]["value"] for e in other["entry"]}
    # one alerts/active message reports several alerts: each event its own key
    keys = set()
    for event in (ALERT, OFFLINE, {**ALERT, "phase": "end"}):
        bundle = fhir.alert_bundle(BED, event, "m-9", transaction=True)
        Bundle.model_validate(bundle)
        entry = bundle["entry"][0]
        keys.add(entry["request"]["ifNoneExist"])
        assert entry["request"]["ifNoneExist"].startswith("identifier=urn:capleak:event|m-9/")
    assert len(keys) == 3
    # a collection (files in a directory) has no request to make conditional
    assert "request" not in fhir.vitals_bundle(BED, VITALS, transaction=False)["entry"][0]
