"""A red-flag row in one business sentence: each stored flag as a plain phrase, worst first.

An executive reads "4 input features have drifted far from training; it runs without a valid approval", not
metric keys and PSI values; those stay one click away (the flag's ``detail`` and the model's governance page).
Pure: works on the flag dicts ``apps.governance.figures`` stores, so it can be tested without a database. A flag
stored before a fact it counts was kept (an older row) falls back to its kind's general phrase.
"""

from collections.abc import Iterable

# Each kind's phrase when nothing more specific is known; completes "The model: ...".
PHRASES = {
    "incident_open": "an incident in which it failed or caused harm is still open",
    "shadow_promotion": "it is served as the production model in MLflow although it was never approved here",
    "finding_blocking": "a validator found a problem serious enough to keep it out of production",
    "approval_suspended": "its approval is suspended after a monitoring breach",
    "breach": "its monitoring shows results past the limits its risk allows",
    "never_evaluated": "it runs in production but has never been checked on real data",
    "monitoring_overdue": "its monitoring checks are overdue",
    "unapproved": "it runs in production without a valid approval",
    "not_assessed": "its risk has never been assessed",
    "reassessment_requested": "a new risk assessment was requested",
    "assessment_overdue": "its risk assessment is overdue",
    "owner_left": "the person accountable for it has left",
    "gate_overridden": "an administrator let it into production without the required checks",
    "env_mismatch": "it runs on software other than the one it was validated on",
    "owner_unreachable": "nobody can reach the person accountable for it",
    "no_process": "no business process is recorded for it",
    "no_training_data": "its training data is not recorded",
    "no_fingerprint": "its software environment was never recorded",
}

UNAPPROVED = {
    "approval_void": "its approval no longer holds because the model changed since",
    "approval_insufficient": "its approval falls short of what its risk requires",
    "approval_missing": "it runs in production without an approval",
}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def breach_phrase(metrics: Iterable[str]) -> str:
    """What the breached metrics mean to the business: drifted inputs, fairness, performance."""
    metrics = list(metrics)
    drifted = {m.split(".")[1] for m in metrics if m.startswith("drift.") and m.count(".") >= 2}
    outputs = [m for m in metrics if m.startswith("prediction_drift.")]
    fairness = [m for m in metrics if m.startswith("fairness.")]
    performance = [m for m in metrics if not m.startswith(("drift.", "prediction_drift.", "fairness."))]
    parts = []
    if drifted:
        parts.append(_count(len(drifted), "input feature has", "input features have") + " drifted far from training")
    if outputs:
        parts.append("its scores and decisions have shifted from what it gave on its reference data")
    if performance:
        parts.append(_count(len(performance), "performance measure is past its limit",
                            "performance measures are past their limits"))
    if fairness:
        parts.append(_count(len(fairness), "fairness measure is past its limit",
                            "fairness measures are past their limits") + ": it may treat groups unequally")
    return "; ".join(parts) or PHRASES["breach"]


def phrase(flag: dict) -> str:
    """One stored flag as a phrase a business reader understands."""
    kind = flag["kind"]
    if kind == "breach" and flag.get("metrics"):
        return breach_phrase(flag["metrics"])
    if kind == "unapproved":
        codes = flag.get("codes") or ()
        return next((text for code, text in UNAPPROVED.items() if code in codes), PHRASES[kind])
    if kind == "env_mismatch" and flag.get("n", 1) > 1:
        return f"{flag['n']} of its deployments run on software other than the one it was validated on"
    return PHRASES.get(kind, flag.get("label", kind).lower())


def sentence(flags: Iterable[dict]) -> str:
    """The model's flags (stored worst first) as one sentence: phrases joined by semicolons, repeats left out."""
    phrases = list(dict.fromkeys(phrase(flag) for flag in flags))
    if not phrases:
        return ""
    text = "; ".join(phrases)
    return text[0].upper() + text[1:] + "."
