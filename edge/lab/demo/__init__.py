"""``capleak demo``: the whole product on one machine, in a few minutes.

A virtual patient goes through a capillary-leak course over several days.
Device simulators speak the real serial protocols on pseudo-terminals; the
real agent (``capleak run``, a subprocess with a generated configuration)
reads them, computes the trends and alerts, and publishes over MQTT; a station
view subscribes and prints what a nurse at the central station would see. The
simulators and the agent share one scaled clock (``CAPLEAK_CLOCK``), so the
trends are computed on simulated time.

Without ``--broker`` a private mosquitto is started when one is installed.
With no broker at all the demo says so, shows the alerts from the agent's
outbox and leaves them there, as the agent would at the bedside.

The demo consumes the agent's structured events only: the systemd notify
messages (``READY=1``, ``STATUS=``, ``STOPPING=1``) on a socket of its own, the MQTT
messages through the station model, or the same messages in the outbox. The
agent's log is shown with ``-v``, never parsed.

Along the way the demo runs (one module each):

- :mod:`~edge.lab.demo.course`: the virtual patient's course per device, the agent's config;
- :mod:`~edge.lab.demo.broker`: a private mosquitto;
- :mod:`~edge.lab.demo.bedside`: the device simulators on ptys;
- :mod:`~edge.lab.demo.agent`: ``capleak run``, with the demo as its service manager;
- :mod:`~edge.lab.demo.station`: the station view over MQTT;
- :mod:`~edge.lab.demo.alerts`: alert events from MQTT bodies or the outbox, one line each;
- :mod:`~edge.lab.demo.summary`: the alerts against the hold criteria;
- :mod:`~edge.lab.demo.play`: :func:`run_demo`, which starts, watches and stops them all.
"""

from edge.lab.demo.alerts import SeenAlert, alert_from_message, course_time
from edge.lab.demo.course import Course, make_course
from edge.lab.demo.play import run_demo
from edge.lab.demo.summary import summary

__all__ = [
    "Course",
    "SeenAlert",
    "alert_from_message",
    "course_time",
    "make_course",
    "run_demo",
    "summary",
]
