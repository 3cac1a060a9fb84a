"""The hospital gateway: capleak's MQTT contract -> IHE PCD over HL7 v2 MLLP, and FHIR R4.

A station-side subscriber (it changes nothing at the bedside):

* :mod:`.hl7v2`     PCD-01 (``ORU^R01``) and PCD-04 (``ORU^R40``) messages, ACK parsing
* :mod:`.fhir`      vital-signs Observations and alert Communications
* :mod:`.forwarder` one MQTT message -> queued messages; the PCD-04 ``continue`` ticker
* :mod:`.store`     SQLite: queue, de-duplication, standing alerts, dead letters
* :mod:`.mllp`      MLLP framing and the sending link
* :mod:`.delivery`  one sender thread per receiver: acknowledged or retried, in order
* :mod:`.service`   the running gateway (paho, the senders, the ticker)

``capleak gateway`` (``edge/cli/gateway.py``) is its command; ``docs/integration.md``
describes the messages and the delivery guarantees.
"""
