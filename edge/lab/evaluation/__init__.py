"""Detection quality on virtual patients: comparators, metrics, the cohort runner, the report.

Off the live path: only ``capleak evaluate`` imports it. See ``docs/evaluation.md``.
"""
