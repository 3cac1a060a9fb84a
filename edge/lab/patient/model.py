"""The true physiology of a virtual HDIL-2 patient, integrated on a fixed 1-minute step.

Building blocks and calibration anchors are in ``shared/docs/signal-processing.md``
("Simulating capillary leak") and ``shared/docs/clinical.md``:

- **Dosing:** 600,000 IU/kg q8h, at most 14 doses (clinical.md "The therapy").
  Before each dose the true hold criteria are checked (SBP < 90, SpO2 < 90,
  weight gain > 15 %, HR > 130, pressors running; clinical.md "Hold / stop
  criteria"); a met criterion holds the dose, and IL-2 stops after 3 held doses
  (community-hospital criteria, SpringerPlus 2015).
- **Drug and cytokine activity:** plasma IL-2 decays with a half-life of 85 min
  (aldesleukin label; GUESS as the model's only PK). Endothelial activation ``A``
  integrates IL-2 with a 12 h time constant (GUESS), normalised so repeated q8h
  doses give a mean ``A`` of about 1. Activation therefore builds over the
  first days, as most abnormalities appear by day 2 (Cochat 1991), and fades
  within 2-3 days of stopping (Belldegrun 1987).
- **Fluid:** two compartments, plasma ``Vp`` and interstitium ``Vi``:
  ``dVp/dt = -Jv + Jl + infusion - urine - insensible``, ``dVi/dt = Jv - Jl``.
  Starling flux ``Jv = Kf [(Pc - Pi) - sigma (pi_c - pi_i)]`` with the textbook
  pressures (Pc 25 mmHg mean of 35/15, Pi -2, sigma pi_c 28, sigma pi_i 3).
  IL-2 raises ``Kf`` and lowers ``sigma``; plasma protein leaks and
  oncotic pressure falls (albumin 3.6 -> 2.2 g/dL in Textor 1987 is the anchor).
  Lymph return rises with interstitial pressure and saturates at 10x baseline
  (GUESS). Urine: baseline 1 mL/kg/h, plus Hahn's volume-kinetic elimination of
  ~95 mL/min x plasma dilution, scaled down by low MAP and by IL-2 (GUESS).
- **Blood pressure:** ATLS classes for plasma volume loss (< 15 % none, 15-30 %
  small, 30-40 % falls, > 40 % profound) times the direct IL-2 vasodilation,
  partly offset by a baroreflex; phenylephrine adds pressure when started.
- **Heart rate:** baroreflex compensation for volume loss and vasodilation, plus
  fever (chills/rigors 1-2 h, fever 2-4 h after a dose; Dutcher 2014), 10/min
  per degree C (GUESS).
- **Weight** = dry weight + net fluid (Vp + Vi over their start values; 1 L = 1 kg).
- **SpO2:** extravascular lung water index (EVLWI, baseline 7 mL/kg; oedema at
  >= 10) rises with a patient-specific share of the interstitial excess;
  PaO2 falls 7 mmHg per mL/kg above 7 (GUESS, loosely from the r = -0.53
  EVLWI-PaO2/FiO2 correlation); SpO2 from PaO2 by Severinghaus 1979.
- **Fluid protocol** (Betof Warner 2024): a BP target; NIBP below it gives a
  500 mL bolus over 30 min and a recheck at 30 min; after 6 boluses in 24 h with
  SBP still below target a pressor starts if the patient's protocol allows it.
  The protocol acts on *measured* NIBP, as a ward does. Oxygen by nasal
  cannula starts when SpO2 stays below 92 % for 10 min and adds 25 mmHg PaO2 (GUESS).

Every number marked GUESS is a modelling choice, not a published value.
The model never looks at the detector under evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

STEP_S = 60.0
#: Severinghaus 1979 (signal-processing.md).
SEVERINGHAUS_A = 23400.0


def severinghaus(po2: float) -> float:
    """SpO2 in % from PaO2 in mmHg (Severinghaus 1979).

    >>> round(severinghaus(90.0), 1)
    96.9
    """
    po2 = max(po2, 1.0)
    return 100.0 / (SEVERINGHAUS_A / (po2**3 + 150.0 * po2) + 1.0)


def inverse_severinghaus(spo2: float) -> float:
    """PaO2 giving ``spo2`` (bisection; only used to set a patient's baseline)."""
    lo, hi = 10.0, 600.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if severinghaus(mid) < spo2:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


SEVERITIES = ("none", "mild", "moderate", "severe")


@dataclass(frozen=True, slots=True)
class PatientParams:
    """One patient's parameters. Ranges are drawn in :func:`draw_params`; all are GUESSES
    except where the module docstring cites a source."""

    drawn_severity: str
    dry_weight_kg: float
    sbp0: float
    hr0: float
    spo2_0: float
    #: Kf multiplier per unit of endothelial activation (GUESS).
    perm_gain: float
    #: fractional fall of the reflection coefficient at full activation (GUESS).
    sigma_drop: float
    #: fractional fall of vascular resistance per unit activation (GUESS).
    vaso_gain: float
    #: share of the baroreflex that restores pressure after vasodilation (GUESS).
    baro: float
    #: share of the interstitial excess that ends up in the lungs (GUESS).
    lung_frac: float
    #: peak fever in degrees C at full activation (GUESS).
    fever_gain: float
    #: IL-2 antidiuresis: fractional urine reduction at full activation (GUESS).
    renal_il2: float
    #: fluid protocol may start a vasopressor (GUESS: 70 % of patients).
    pressors_allowed: bool
    #: SBP target of the fluid protocol in mmHg (GUESS: 95).
    bp_target: float = 95.0
    #: base NIBP interval in minutes (q15 min to q4 h, signal-processing.md).
    nibp_interval_min: float = 60.0
    #: weight by bed scale (continuous) rather than standing scale.
    bed_scale: bool = False
    subtype: str = ""


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


#: (perm_gain, sigma_drop, vaso_gain, lung_frac, renal_il2) ranges per drawn class. GUESSES.
_CLASS_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "none": {
        "perm_gain": (0.0, 0.15),
        "sigma_drop": (0.0, 0.02),
        "vaso_gain": (0.0, 0.08),
        "lung_frac": (0.01, 0.04),
        "renal_il2": (0.1, 0.3),
    },
    "mild": {
        "perm_gain": (0.4, 1.2),
        "sigma_drop": (0.03, 0.1),
        "vaso_gain": (0.08, 0.2),
        "lung_frac": (0.02, 0.05),
        "renal_il2": (0.3, 0.5),
    },
    "moderate": {
        "perm_gain": (1.2, 3.0),
        "sigma_drop": (0.08, 0.2),
        "vaso_gain": (0.2, 0.38),
        "lung_frac": (0.03, 0.08),
        "renal_il2": (0.45, 0.7),
    },
    "severe": {
        "perm_gain": (2.5, 5.0),
        "sigma_drop": (0.15, 0.3),
        "vaso_gain": (0.32, 0.5),
        "lung_frac": (0.05, 0.11),
        "renal_il2": (0.6, 0.85),
    },
}

#: Cohort mix of drawn classes (GUESS, anchored on hypotension in 53 % of courses, White et al.).
COHORT_MIX: dict[str, float] = {"none": 0.25, "mild": 0.25, "moderate": 0.33, "severe": 0.17}


def draw_params(severity: str, rng: np.random.Generator) -> PatientParams:
    """Draw one patient of the given *drawn* class (its outcome class may differ)."""
    if severity not in _CLASS_RANGES:
        raise ValueError(f"unknown severity {severity!r}; known: {', '.join(SEVERITIES)}")
    r = _CLASS_RANGES[severity]
    values = {k: _u(rng, *v) for k, v in r.items()}
    subtype = ""
    # Some leakers gain weight without hypotension: strong leak, little vasodilation (GUESS 25 %).
    if severity in ("moderate", "severe") and rng.random() < 0.25:
        subtype = "weight_without_hypotension"
        values["vaso_gain"] = _u(rng, 0.0, 0.08)
        values["perm_gain"] = _u(rng, 4.0, 9.0)
        values["lung_frac"] = _u(rng, 0.01, 0.03)
        values["renal_il2"] = _u(rng, 0.6, 0.85)
    return PatientParams(
        drawn_severity=severity,
        dry_weight_kg=float(np.clip(rng.normal(80.0, 13.0), 50.0, 125.0)),
        sbp0=float(np.clip(rng.normal(126.0, 11.0), 105.0, 155.0)),
        hr0=float(np.clip(rng.normal(76.0, 9.0), 55.0, 98.0)),
        spo2_0=float(np.clip(rng.normal(97.3, 0.9), 95.0, 99.5)),
        baro=_u(rng, 0.3, 0.6),
        fever_gain=_u(rng, 0.6, 2.4),
        pressors_allowed=bool(rng.random() < 0.7),
        nibp_interval_min=float(rng.choice([30.0, 60.0, 60.0, 120.0, 240.0])),
        bed_scale=bool(rng.random() < 0.3),
        subtype=subtype,
        **values,
    )


# Textbook Starling numbers (signal-processing.md) and compartment sizes (GUESSES).
PC0 = 25.0  # mean capillary pressure, mmHg (midpoint of 35 arterial / 15 venous)
PI0 = -2.0  # interstitial hydrostatic pressure, mmHg
SIGMA0 = 0.9  # reflection coefficient (GUESS)
PIC0 = 28.0 / SIGMA0  # plasma oncotic pressure so that sigma*pi_c = 28
PII0 = 3.0 / SIGMA0  # interstitial oncotic pressure so that sigma*pi_i = 3
JL0 = 2.0e-3  # baseline lymph flow L/min (~2.9 L/day; GUESS)
VP_PER_KG = 0.043  # plasma volume L/kg (GUESS)
VI_PER_KG = 0.15  # interstitial volume L/kg (GUESS)
PC_PER_L = 4.0  # capillary pressure rise per litre of plasma excess, mmHg/L (GUESS)
INSENSIBLE_L_MIN = 0.5e-3  # insensible loss (GUESS)
HAHN_CLEARANCE_L_MIN = 0.095  # elimination ~ dilution x 95 mL/min (Hahn)
IL2_HALF_LIFE_MIN = 85.0
ACTIVATION_TAU_MIN = 720.0
FEVER_TAU_MIN = 100.0
BOLUS_L = 0.5
BOLUS_MIN = 30.0
MAX_BOLUSES_24H = 6
O2_START_SPO2 = 92.0  # supplemental oxygen started below this for 10 min (GUESS)
O2_PAO2_GAIN = 25.0  # PaO2 gain on 3-4 L/min nasal cannula, mmHg (GUESS)
PRESSOR_EFFECT = 0.15  # fraction of baseline SBP restored by phenylephrine (GUESS)
DOSE_INTERVAL_H = 8.0
MAX_DOSES = 14
MAX_HELD = 3


@dataclass(slots=True)
class Trajectory:
    """True physiology sampled every :data:`STEP_S` seconds from the scenario start."""

    params: PatientParams
    t: np.ndarray  # seconds from start
    sbp: np.ndarray
    dbp: np.ndarray
    map: np.ndarray
    hr: np.ndarray
    spo2: np.ndarray
    temp: np.ndarray
    weight: np.ndarray
    vp: np.ndarray
    vi: np.ndarray
    fluid_in: np.ndarray  # cumulative L given (maintenance + boluses)
    fluid_out: np.ndarray  # cumulative L lost (urine + insensible)
    albumin: np.ndarray
    evlwi: np.ndarray
    activation: np.ndarray
    pressor: np.ndarray  # bool
    oxygen: np.ndarray  # bool: supplemental oxygen running
    doses_given: list[float] = field(default_factory=list)
    doses_held: list[float] = field(default_factory=list)
    boluses: list[float] = field(default_factory=list)
    #: NIBP measurements the ward took: (time s, sbp, map, dbp) measured, or NaN when failed.
    nibp: list[tuple[float, float, float, float, str]] = field(default_factory=list)


def _atls_drop(deficit: float) -> float:
    """Fractional SBP fall for a plasma volume deficit (ATLS classes; shape GUESSED)."""
    if deficit <= 0.0:
        return 0.3 * deficit  # hypervolaemia raises SBP a little (GUESS)
    if deficit < 0.15:
        return 0.0
    if deficit < 0.30:
        return 0.4 * (deficit - 0.15)
    if deficit < 0.40:
        return 0.06 + 1.5 * (deficit - 0.30)
    return 0.21 + 2.5 * (deficit - 0.40)


def simulate(
    params: PatientParams,
    rng: np.random.Generator,
    days: float = 5.0,
    first_dose_h: float = 6.0,
    nibp_error_sd: float = 4.0,
) -> Trajectory:
    """Integrate one patient for ``days`` (forward Euler, 1-min step, plain floats)."""
    p = params
    n = round(days * 86400.0 / STEP_S) + 1
    dt = STEP_S / 60.0  # minutes
    w0 = p.dry_weight_kg
    vp0, vi0 = VP_PER_KG * w0, VI_PER_KG * w0
    cp0 = 70.0  # g/L total plasma protein (7 g/dL)
    ci0 = cp0 * PII0 / PIC0
    k_pi = PIC0 / cp0
    jv0 = JL0
    kf0 = jv0 / ((PC0 - PI0) - SIGMA0 * (PIC0 - PII0))
    # Protein balance at baseline: convective leak + diffusion = lymph return.
    ps0 = (JL0 * ci0 - (1.0 - SIGMA0) * jv0 * cp0) / (cp0 - ci0)
    qp, qi = cp0 * vp0, ci0 * vi0
    u0 = w0 * 1e-3 / 60.0  # 1 mL/kg/h in L/min
    maint = u0 + INSENSIBLE_L_MIN  # maintenance infusion balancing losses at baseline
    map0 = p.sbp0 * (0.6 + 0.4 / 3.0)  # DBP ~ 0.6 SBP (GUESS), MAP = DBP + PP/3
    pao2_0 = inverse_severinghaus(p.spo2_0)

    doses_due = [first_dose_h * 60.0 + k * DOSE_INTERVAL_H * 60.0 for k in range(MAX_DOSES)]
    next_dose = 0
    conc = 0.0  # IL-2, normalised units
    act = 0.0
    fever = 0.0
    k_el = math.log(2.0) / IL2_HALF_LIFE_MIN
    # Normalise activation so that the mean of A under q8h dosing is ~1.
    act_scale = DOSE_INTERVAL_H * 60.0 * k_el
    vp, vi = vp0, vi0
    fin = fout = 0.0
    bolus_until = -1.0
    bolus_times: list[float] = []
    pressor = False
    pressor_ok_count = 0
    stopped = False
    held = 0
    # Slow fluctuations: Ornstein-Uhlenbeck (sd, tau min) for SBP, HR, SpO2 (GUESSES).
    ou = {"sbp": (3.0, 20.0), "hr": (3.0, 10.0), "spo2": (0.35, 15.0)}
    ou_x = {k: 0.0 for k in ou}
    ou_a = {k: math.exp(-dt / tau) for k, (_, tau) in ou.items()}
    ou_s = {k: sd * math.sqrt(1.0 - ou_a[k] ** 2) for k, (sd, _) in ou.items()}
    noise = rng.standard_normal((n, 3))
    phase = _u(rng, 0.0, 2.0 * math.pi)
    # NIBP plan: the ward's schedule, failed cycles and errors (measurement.py reads it).
    next_nibp = _u(rng, 0.0, p.nibp_interval_min)
    nibp_bias = _u(rng, -3.0, 3.0)

    arr = {
        k: np.empty(n)
        for k in (
            "sbp dbp map hr spo2 temp weight vp vi fin fout alb evlwi act".split()  # noqa: SIM905
        )
    }
    press = np.zeros(n, dtype=bool)
    o2 = np.zeros(n, dtype=bool)
    oxygen = False
    low_spo2_min = 0.0
    traj_nibp: list[tuple[float, float, float, float, str]] = []
    given: list[float] = []
    held_list: list[float] = []

    for i in range(n):
        tmin = i * dt
        # --- observation of the current state -------------------------------
        deficit = 1.0 - vp / vp0
        vaso = p.vaso_gain * act
        comp = 1.0 - vaso * (1.0 - p.baro)
        circ = 4.0 * math.sin(2.0 * math.pi * tmin / 1440.0 + phase)
        sbp = p.sbp0 * (1.0 - _atls_drop(deficit)) * comp + circ + ou_x["sbp"]
        if pressor:
            sbp += PRESSOR_EFFECT * p.sbp0
        pp_frac = 0.4 + 0.5 * vaso  # vasodilation widens pulse pressure (GUESS)
        dbp = sbp * (1.0 - pp_frac)
        mean_ap = dbp + (sbp - dbp) / 3.0
        temp = 37.0 + p.fever_gain * fever / 0.45  # single-dose peak of fever ~0.45
        hr = (
            p.hr0 * (1.0 + 1.5 * max(deficit, 0.0) + 1.5 * vaso * p.baro)
            + 10.0 * (temp - 37.0)
            + 0.5 * circ
            + ou_x["hr"]
        )
        evlwi = 7.0 + p.lung_frac * max(vi - vi0, 0.0) * 1000.0 / w0
        pao2 = pao2_0 - 7.0 * max(evlwi - 7.0, 0.0) + (O2_PAO2_GAIN if oxygen else 0.0)
        spo2 = min(100.0, severinghaus(pao2) + ou_x["spo2"])
        weight = w0 + (vp + vi - vp0 - vi0)
        arr["sbp"][i], arr["dbp"][i], arr["map"][i] = sbp, dbp, mean_ap
        arr["hr"][i], arr["spo2"][i], arr["temp"][i] = hr, spo2, temp
        arr["weight"][i], arr["vp"][i], arr["vi"][i] = weight, vp, vi
        arr["fin"][i], arr["fout"][i] = fin, fout
        arr["alb"][i] = 3.6 * (qp / vp) / cp0
        arr["evlwi"][i], arr["act"][i] = evlwi, act
        press[i] = pressor
        o2[i] = oxygen
        # Oxygen by nasal cannula once SpO2 stays below 92 % for 10 min (GUESS).
        low_spo2_min = low_spo2_min + dt if spo2 < O2_START_SPO2 else 0.0
        if low_spo2_min >= 10.0:
            oxygen = True

        # --- the ward: NIBP cycles and the fluid protocol --------------------
        if tmin >= next_nibp:
            r = rng.random()
            if r < 0.05:  # failed cycle, retried in 5 min (GUESS 5 %)
                traj_nibp.append((tmin * 60.0, math.nan, math.nan, math.nan, "failed"))
                next_nibp = tmin + 5.0
            else:
                e = rng.normal(0.0, nibp_error_sd, 3) + nibp_bias
                kind = "ok"
                if r < 0.08:  # motion artifact: a gross error (GUESS 3 %)
                    e += rng.normal(0.0, 20.0)
                    kind = "artifact"
                msbp, mmap, mdbp = sbp + e[0], mean_ap + 0.5 * e[1], dbp + e[2]
                traj_nibp.append((tmin * 60.0, msbp, mmap, mdbp, kind))
                interval = p.nibp_interval_min
                if msbp < p.bp_target:
                    interval = min(interval, 30.0)
                    recent = [b for b in bolus_times if tmin - b < 1440.0]
                    if tmin >= bolus_until and len(recent) < MAX_BOLUSES_24H:
                        bolus_until = tmin + BOLUS_MIN
                        bolus_times.append(tmin)
                    elif len(recent) >= MAX_BOLUSES_24H and p.pressors_allowed:
                        pressor = True
                        pressor_ok_count = 0
                elif pressor and msbp > p.bp_target + 15.0:
                    pressor_ok_count += 1
                    if pressor_ok_count >= 2:
                        pressor = False
                # Betof Warner: BP checked about 2 h before each dose.
                if next_dose < MAX_DOSES and not stopped:
                    pre = doses_due[next_dose] - 120.0
                    if tmin < pre < tmin + interval:
                        interval = pre - tmin
                next_nibp = tmin + max(interval, 5.0)

        # --- dosing ----------------------------------------------------------
        if not stopped and next_dose < MAX_DOSES and tmin >= doses_due[next_dose]:
            hold = (
                sbp < 90.0
                or spo2 < 90.0
                or weight > 1.15 * w0
                or hr > 130.0
                or pressor
                or tmin < bolus_until
            )
            if hold:
                held += 1
                held_list.append(tmin * 60.0)
                if held >= MAX_HELD:
                    stopped = True
            else:
                conc += 1.0
                given.append(tmin * 60.0)
            next_dose += 1

        # --- fluxes ----------------------------------------------------------
        a_frac = act / (1.0 + act)
        kf = kf0 * (1.0 + p.perm_gain * act)
        sigma = SIGMA0 * (1.0 - p.sigma_drop * a_frac)
        pc = PC0 + PC_PER_L * (vp - vp0)
        dvi = vi - vi0
        pi_i = PI0 + 4.0 * (1.0 - math.exp(-dvi / 1.5)) if dvi >= 0.0 else PI0 + 4.0 / 1.5 * dvi
        cp, ci = qp / vp, qi / vi
        jv = kf * ((pc - pi_i) - sigma * k_pi * (cp - ci))
        dp = pi_i - PI0
        if dp >= 0.0:
            jl = JL0 + 9.0 * JL0 * (1.0 - math.exp(-dp / 2.0))
        else:
            jl = JL0 * max(0.0, 1.0 + dp / 2.0)
        js = (1.0 - sigma) * jv * cp + ps0 * (1.0 + p.perm_gain * act) * (cp - ci)
        renal = min(max((mean_ap - 50.0) / (map0 - 50.0), 0.0), 1.2)
        dil = max(vp / vp0 - 1.0, 0.0)
        urine = (u0 + HAHN_CLEARANCE_L_MIN * dil) * renal * (1.0 - p.renal_il2 * a_frac)
        infusion = maint + (BOLUS_L / BOLUS_MIN if tmin < bolus_until else 0.0)
        loss = urine + INSENSIBLE_L_MIN
        vp += dt * (-jv + jl + infusion - loss)
        vi += dt * (jv - jl)
        qp += dt * (-js + jl * ci)
        qi += dt * (js - jl * ci)
        fin += dt * infusion
        fout += dt * loss
        # --- drug, activation, fever, noise -----------------------------------
        act += dt * (conc * act_scale - act) / ACTIVATION_TAU_MIN
        fever += dt * (min(conc, 1.5) - fever) / FEVER_TAU_MIN
        conc *= math.exp(-k_el * dt)
        for j, k in enumerate(("sbp", "hr", "spo2")):
            ou_x[k] = ou_a[k] * ou_x[k] + ou_s[k] * noise[i, j]

    return Trajectory(
        params=p,
        t=np.arange(n) * STEP_S,
        sbp=arr["sbp"],
        dbp=arr["dbp"],
        map=arr["map"],
        hr=arr["hr"],
        spo2=arr["spo2"],
        temp=arr["temp"],
        weight=arr["weight"],
        vp=arr["vp"],
        vi=arr["vi"],
        fluid_in=arr["fin"],
        fluid_out=arr["fout"],
        albumin=arr["alb"],
        evlwi=arr["evlwi"],
        activation=arr["act"],
        pressor=press,
        oxygen=o2,
        doses_given=given,
        doses_held=held_list,
        boluses=[b * 60.0 for b in bolus_times],
        nibp=traj_nibp,
    )
