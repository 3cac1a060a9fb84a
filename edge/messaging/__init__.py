"""Everything between the core's outputs and the broker, and back.

:mod:`~edge.messaging.alerts` (the alert book: IEC 60601-1-8 / IHE ACM lifecycle),
:mod:`~edge.messaging.outbox` (SQLite store-and-forward),
:mod:`~edge.messaging.publisher` (one paho client, QoS 1),
:mod:`~edge.messaging.mqtt` (broker URLs, TLS, credentials),
:mod:`~edge.messaging.commands` (``cmd/<name>`` parsing and checks) and ``schemas/``
(one JSON Schema per payload: the MQTT contract, ``docs/messaging.md``).
Messaging knows the vocabulary, never a device.
"""
