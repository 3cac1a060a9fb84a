"""Artifact model C: a third, independently written model of what the bedside devices report.

**Written without looking at the other models or at the detector.** The author of this
package did not open ``edge/lab/patient/measurement.py`` (model A), the artifact code of
model B (``artifacts_b/oximeter.py``, ``nibp.py``, ``scale.py``, ``charting.py``,
``assembly.py``), the core (``edge/core/``: ``artifacts.py``, ``rules/``, ``core.py``),
``docs/core.md`` or ``docs/evaluation.md``. Only these were read: the
:class:`~edge.lab.patient.model.Trajectory` fields (true physiology on a 1-minute grid)
and :func:`~edge.lab.patient.generate`; ``artifacts_b/streams.py`` (:class:`StreamsB` and
the row collector, imported so the evaluation, the comparators and the plots read model C
unchanged); ``edge/vocabulary.py``; model B's tests (to mirror their shape) and the shared
docs ``signal-processing.md``, ``clinical.md`` and ``protocols.md``. The core was tuned on
models A and B; model C exists so the detection figures can be reported on data the
detector was never tuned on. ``Trajectory.nibp`` (the readings the physiology model's fluid
protocol acted on) is deliberately not used: model C draws its own cuff cycles from the
true pressure.

:func:`measure_c` turns a patient's TRUE trajectory into the rows the core sees:

Pulse oximeter (:mod:`~edge.lab.patient.artifacts_c.oximeter`; 1 Hz SpO2 + pulse, PI
every 10 s): per-patient probe bias, slow noise, the device's 8 s averaging; **motion**
pulling the reading towards ~85 % (red/IR ratio near 1), pulse locking onto the
movement in some episodes, flagged ``artifact`` in under half of them with a lagging,
flickering flag; **probe off** (unflagged garbage, ``searching``, ``sensor_off`` rows or
silence, ``searching`` again, settling values); **low perfusion** from a perfusion index
that follows the true SBP (flagged below 0.3 %, noisy and low but unflagged just above,
some seconds missing); **rigors** after some doses (more motion, lower perfusion);
**nocturnal desaturations** in some patients (physiological, NOT in the truth: see the
oximeter module).
Clocks and links (:mod:`~edge.lab.patient.artifacts_c.transport`): each device has its own
clock offset and drift; oximeter rows arrive with latency, some duplicated after a
reconnect, some batches lost and resent late (out of order), a few single rows reordered.
NIBP (:mod:`~edge.lab.patient.artifacts_c.cuff`): automatic cycles at the patient's
interval, tightened while low; per-patient bias, shared and own errors, over-reading in
hypotension, unflagged outliers; failed cycles and retries; nurse re-measures after a low
or falling reading, some with a manual cuff (no MAP, digit preference, charted late);
parts with separate stamps and in any arrival order, some cycles without MAP, late and
duplicated deliveries.
Weight and doses (:mod:`~edge.lab.patient.artifacts_c.ward`): a standing scale (clothes,
transcription errors, re-weighing, late charting, quarter-hour stamps) or a bed scale
(items on the bed, leaning, its own zero and clock, no reading while out of bed); an
admission weight that is sometimes the patient's stated weight; doses charted late, at the
actual or the scheduled time.

Every rate and size is a named constant next to the code that draws it, marked with its
source (SP = ``shared/docs/signal-processing.md``, CL = ``shared/docs/clinical.md``, or a
publication) or JUDGEMENT. Deterministic for the generator passed in. ``events`` counts
each artifact kind; ``log`` lists the oximeter episodes ``(kind, start s, end s, detail)``
with kind ``motion`` (detail: the flag's lag in s, NaN if unflagged), ``probe_off`` (end
of the garbage phase, s), ``low_perfusion`` (PI factor), ``desaturation`` (depth) and
``rigor`` (0), times on the true clock from the start.
"""

from __future__ import annotations

from edge.lab.patient.artifacts_c.assembly import measure_c

__all__ = ["measure_c"]
