"""IntelliVue nomenclature: object, attribute, action and physiological ids, units, states.

Values from derekmerck/PERSEUS ``OIDTypes.txt`` and ``IntellivueDecoder.py``
(``MeasurementState``) as recorded in ``shared/docs/protocols.md``; what each
maps to in capleak's vocabulary is the driver's choice, documented in
:mod:`drivers.intellivue`.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.vocabulary import Flag

NOM_PART_OBJ = 1
NOM_PART_SCADA = 2
NOM_MOC_VMO_METRIC_NU = 6
NOM_MOC_VMS_MDS = 33
NOM_MOC_VMO_AL_MON = 54
NOM_ATTR_GRP_VMO_STATIC = 2065
NOM_ATTR_ID_HANDLE = 2337
NOM_ATTR_ID_TYPE = 2351
NOM_ATTR_NU_CMPD_VAL_OBS = 2379
NOM_ATTR_NU_VAL_OBS = 2384
NOM_ATTR_TIME_STAMP_ABS = 2448
NOM_ATTR_TIME_STAMP_REL = 2449
NOM_ATTR_VMS_MDS_STAT = 2471
NOM_ACT_POLL_MDIB_DATA = 3094  # 0x0C16
NOM_NOTI_MDS_CREAT = 3334  # 0x0D06
NOM_ACT_POLL_MDIB_DATA_EXT = 61755  # 0xF13B
NOM_ATTR_TIME_PD_POLL = 61758  # 0xF13E
NOM_POLL_PROFILE_SUPPORT = 0x0001
NOM_ATTR_POLL_PROFILE_EXT = 0xF001

NOM_PRESS_BLD_NONINV = 18948
NOM_PRESS_BLD_NONINV_SYS = 18949
NOM_PRESS_BLD_NONINV_DIA = 18950
NOM_PRESS_BLD_NONINV_MEAN = 18951
NOM_PLETH_PULS_RATE = 18466
NOM_PULS_OXIM_PERF_REL = 19376
NOM_PULS_OXIM_SAT_O2 = 19384

NOM_DIM_DIMLESS = 512
NOM_DIM_PERCENT = 544
NOM_DIM_BEAT_PER_MIN = 2720
NOM_DIM_KILO_PA = 3843
NOM_DIM_MMHG = 3872

# remote operation types and commands
ROIV, RORS, ROER, ROLRS = 1, 2, 3, 5
CMD_EVENT_REPORT, CMD_CONFIRMED_EVENT_REPORT, CMD_CONFIRMED_ACTION = 0, 1, 7
SESSION_ID = 0xE100
DEFAULT_CONTEXT = 2

# session SPDU types (first byte of association control user data)
SPDU_CN, SPDU_AC, SPDU_RF, SPDU_FN, SPDU_DN, SPDU_AB = 0x0D, 0x0E, 0x0C, 0x09, 0x0A, 0x19

#: physio id -> signal
PHYSIO_SIGNALS: Mapping[int, str] = {
    NOM_PRESS_BLD_NONINV_SYS: "sbp",
    NOM_PRESS_BLD_NONINV_DIA: "dbp",
    NOM_PRESS_BLD_NONINV_MEAN: "map",
    NOM_PULS_OXIM_SAT_O2: "spo2",
    NOM_PLETH_PULS_RATE: "pulse",
    NOM_PULS_OXIM_PERF_REL: "pi",
}
SIGNAL_PHYSIO: Mapping[str, int] = {s: p for p, s in PHYSIO_SIGNALS.items()}
NIBP_SIGNALS = ("sbp", "dbp", "map")
_MMHG_PER_KPA = 7.500617

#: signal -> {unit code: factor to the vocabulary unit}
UNIT_FACTORS: Mapping[str, Mapping[int, float]] = {
    "sbp": {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PA: _MMHG_PER_KPA},
    "dbp": {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PA: _MMHG_PER_KPA},
    "map": {NOM_DIM_MMHG: 1.0, NOM_DIM_KILO_PA: _MMHG_PER_KPA},
    "spo2": {NOM_DIM_PERCENT: 1.0},
    "pulse": {NOM_DIM_BEAT_PER_MIN: 1.0},
    "pi": {NOM_DIM_PERCENT: 1.0, NOM_DIM_DIMLESS: 1.0},
}
DEFAULT_UNIT: Mapping[str, int] = {
    "sbp": NOM_DIM_MMHG,
    "dbp": NOM_DIM_MMHG,
    "map": NOM_DIM_MMHG,
    "spo2": NOM_DIM_PERCENT,
    "pulse": NOM_DIM_BEAT_PER_MIN,
    "pi": NOM_DIM_PERCENT,
}
#: plausible device values (the core applies clinical plausibility later)
RANGES: Mapping[str, tuple[float, float]] = {
    "sbp": (0.0, 350.0),
    "dbp": (0.0, 350.0),
    "map": (0.0, 350.0),
    "spo2": (0.0, 100.0),
    "pulse": (0.0, 400.0),
    "pi": (0.0, 100.0),
}

# measurement state bits (PERSEUS IntellivueDecoder.py 'MeasurementState')
MS_INVALID = 0x8000
MS_QUESTIONABLE = 0x4000
MS_UNAVAILABLE = 0x2000
MS_CALIBRATION_ONGOING = 0x1000
MS_TEST_DATA = 0x0800
MS_DEMO_DATA = 0x0400
MS_VALIDATED_DATA = 0x0080
MS_EARLY_INDICATION = 0x0040
MS_MSMT_ONGOING = 0x0020
MS_IN_ALARM = 0x0002
MS_AL_INHIBITED = 0x0001

STATE_FLAGS: Mapping[int, str] = {
    MS_INVALID: Flag.ARTIFACT,
    MS_QUESTIONABLE: Flag.LOW_QUALITY,
    MS_CALIBRATION_ONGOING: Flag.SEARCHING,
    MS_EARLY_INDICATION: Flag.UNSTABLE,
    MS_MSMT_ONGOING: Flag.UNSTABLE,
}


def flags_from_state(state: int) -> frozenset[str]:
    """Measurement state bits -> reading flags.

    >>> sorted(flags_from_state(MS_INVALID | MS_QUESTIONABLE | MS_VALIDATED_DATA))
    ['artifact', 'low_quality']
    """
    return frozenset(str(flag) for bit, flag in STATE_FLAGS.items() if state & bit)
