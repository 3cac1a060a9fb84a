"""The central-station side: subscribers of the MQTT contract, never on the bedside path.

:mod:`edge.station.model` is the reference station's model (de-duplication by
``msg_id``, gap detection by ``seq``, beds online/offline); ``capleak station`` is
its console.
"""
