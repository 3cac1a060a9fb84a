"""``--fhir URL``: Bundles POSTed to a real HTTP server process, retried while it is down.

The server is ``fhir_receiver.py`` (stdlib ``http.server``, its own process); what it
received is validated here against the R4 structures with ``fhir.resources`` (R4B's
Bundle, Observation and Communication are the R4 4.0.1 ones, see ``test_fhir.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.observation import Observation

from tests.edge.station.gateway.support import (
    T0,
    Bed,
    FhirReceiver,
    Gateway,
    MllpReceiver,
    gateway_cmd,
)
from tests.support import Mosquitto, wait_for

LOINC = {"spo2": "2708-6", "pulse": "8867-4", "sbp": "8480-6"}


def test_bundles_are_posted_in_order_and_retried_while_the_server_is_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    receiver = MllpReceiver(tmp_path).start()
    server = FhirReceiver(tmp_path)  # not started yet: the server is down
    gw = Gateway(
        gateway_cmd(
            mosquitto.url,
            receiver.url,
            tmp_path / "state",
            "--fhir",
            server.url,
            "--continue-s",
            "3600",
        ),
        tmp_path / "gateway.log",
    ).start()
    bed = Bed(mosquitto.host, mosquitto.port)
    try:
        sent = [
            ("Observation", bed.vitals(T0, {"spo2": 97.0, "pulse": 88.0})["msg_id"]),
            ("Communication", bed.alert(T0 + 1, n=1)["msg_id"]),
            ("Observation", bed.vitals(T0 + 2, {"sbp": 101.0}, source="nibp")["msg_id"]),
            ("Communication", bed.alert(T0 + 3, n=1, phase="end", state="inactive")["msg_id"]),
        ]
        receiver.wait_for(4)  # HL7 goes on while the FHIR server is down
        wait_for(lambda: "fhir: not delivered, will retry" in gw.stderr(), 10)
        time.sleep(1.5)  # a few more retries against the closed port
        assert not server.posts()
        server.start()
        posts = server.wait_for(4)
        time.sleep(0.5)  # long enough for a fifth, were one sent by mistake
    finally:
        bed.close()
        summary = gw.stop()
        server.stop()
        receiver.stop()
    assert len(server.posts()) == 4, "a Bundle was posted twice"
    assert summary["senders"]["fhir"]["retries"] >= 2
    assert summary["senders"]["fhir"]["delivered"] == 4
    assert summary["queued"]["fhir"] == 0
    kinds = []
    for post in posts:
        assert post["path"] == "/fhir"
        assert post["content_type"] == "application/fhir+json"
        bundle = Bundle.model_validate(post["body"])
        assert bundle.type == "transaction"
        for entry in post["body"]["entry"]:
            res = entry["resource"]
            key = res["identifier"][-1]
            assert entry["request"] == {
                "method": "POST",
                "url": res["resourceType"],
                "ifNoneExist": f"identifier={key['system']}|{key['value']}",
            }
        kinds.append(post["body"]["entry"][0]["resource"]["resourceType"])
    assert kinds == [k for k, _ in sent], "out of order"

    first = [Observation.model_validate(e["resource"]) for e in posts[0]["body"]["entry"]]
    assert [o.code.coding[0].code for o in first] == [LOINC["spo2"], LOINC["pulse"]]
    assert [float(o.valueQuantity.value) for o in first] == [97.0, 88.0]
    assert {o.valueQuantity.system for o in first} == {"http://unitsofmeasure.org"}
    nibp = Observation.model_validate(posts[2]["body"]["entry"][0]["resource"])
    assert nibp.code.coding[0].code == LOINC["sbp"] and nibp.valueQuantity.code == "mm[Hg]"
    start, end = (
        Communication.model_validate(posts[i]["body"]["entry"][0]["resource"]) for i in (1, 3)
    )
    assert (start.status, end.status) == ("in-progress", "completed")
    assert [c.identifier[1].value for c in (start, end)] == [sent[1][1], sent[3][1]]
