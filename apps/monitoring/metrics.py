"""Performance and fairness metrics over confusion counts.

Pure numpy/pandas (no Django imports), vectorised: every binary metric is a
function of a few additive counts, so the data is reduced once and the
metrics are read off the counts.

* Confusion cells: ``cell = 2 * y_true + y_pred`` is 0 (TN), 1 (FP), 2 (FN) or
  3 (TP). Per sensitive group, ``numpy.bincount(group_code * 4 + cell)``
  gives the four counts of every group in one pass.
* Scores: a histogram over the *distinct* score values (how many positives
  and negatives carry each value). ROC AUC (Mann-Whitney with ties counted
  as one half), log loss and Brier score are exact functions of it, so the
  result does not depend on binning, and two histograms merge exactly by
  score value.

Both kinds of statistics are additive, which is what makes scale-out
possible: ``binary_partials`` on each chunk, ``merge_partials`` pairwise,
``binary_metrics_from_partials`` once. ``binary_metrics`` is that same path
on a single chunk, so the chunked and the one-shot results are identical.

Undefined values (0/0, a single class for ROC AUC, ...) are ``None``, never
NaN: every result is JSON-serialisable with ``json.dumps(allow_nan=False)``.
Where scikit-learn would return 0 for a 0/0 (its ``zero_division`` default)
these functions return ``None``; fairlearn counts a group with an undefined
true/false positive rate as 0, these functions leave it out of the
equalized-odds comparison.
"""

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import stats

MISSING_GROUP = "(missing)"
FOUR_FIFTHS = 0.8
# Two-sided 95% normal quantile, scipy.stats.norm.ppf(0.975).
Z_95 = 1.959963984540054
# scikit-learn clips probabilities to [eps, 1 - eps] before taking logarithms.
EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------- helpers


def _num(value) -> float | None:
    """A finite float, or None for anything undefined."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _ratio(numerator, denominator) -> float | None:
    return _num(numerator / denominator) if denominator else None


def wilson_interval(successes: int, n: int, z: float = Z_95) -> list[float] | None:
    """Wilson score interval for a proportion: ``[lo, hi]``, or None when ``n`` is 0.

    centre = (p + z^2/2n) / (1 + z^2/n); half-width = z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n).
    """
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _binary_array(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.dtype == bool:
        return array.view(np.uint8)
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return array.astype(np.uint8, copy=False)


def group_codes(values) -> tuple[np.ndarray, list[str]]:
    """Integer codes (0..k-1) and the string label of every code.

    Categoricals are used as they are (no hashing); anything else is factorised.
    Missing values form their own group, ``"(missing)"``; values whose string
    forms coincide (``1`` and ``"1"``) are one group.
    """
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.Categorical) or isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        codes = np.asarray(values.codes, dtype=np.intp)
        uniques = list(values.categories)
    else:
        if not hasattr(values, "dtype"):
            values = np.asarray(values, dtype=object)
        codes, uniques = pd.factorize(values)
        codes = np.asarray(codes, dtype=np.intp)
        uniques = list(uniques)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_GROUP)
    if len(set(labels)) != len(labels):
        merged, remap = {}, np.empty(len(labels), dtype=np.intp)
        for index, label in enumerate(labels):
            remap[index] = merged.setdefault(label, len(merged))
        codes, labels = remap[codes], list(merged)
    return codes, labels


def _check_lengths(n: int, arrays: Mapping[str, object]) -> None:
    for name, array in arrays.items():
        if array is not None and len(array) != n:
            raise ValueError(f"{name} has {len(array)} values, y_true has {n}")


# ---------------------------------------------------------------- binary: partial statistics


def _score_histogram(y_true: np.ndarray, y_score: np.ndarray) -> dict:
    """Distinct score values (sorted) with the number of positives and negatives at each."""
    scores = np.asarray(y_score, dtype=np.float64)
    if scores.size and not (np.isfinite(scores).all() and scores.min() >= 0.0 and scores.max() <= 1.0):
        raise ValueError("y_score must contain finite values in [0, 1]")
    # Two plain sorts (SIMD-fast) instead of an argsort: all scores give the distinct values and their
    # totals, the positives' scores give, by binary search, how many positives sit at or below each value.
    ordered = np.sort(scores)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if ordered.size else np.empty(0, np.intp)
    values = ordered[starts]
    totals = np.diff(np.r_[starts, ordered.size]).astype(np.int64)
    positive_scores = np.sort(scores[y_true.astype(bool)])
    positives = np.diff(np.r_[0, np.searchsorted(positive_scores, values, side="right")]).astype(np.int64)
    return {"values": values, "positives": positives, "negatives": totals - positives}


def _partials(y_true, y_pred, y_score=None, sensitive: Mapping | None = None) -> dict:
    truth = _binary_array(y_true, "y_true")
    predicted = _binary_array(y_pred, "y_pred")
    _check_lengths(len(truth), {"y_pred": predicted, "y_score": y_score, **(sensitive or {})})
    cell = truth.astype(np.intp) * 2 + predicted
    partials = {
        "n": len(truth),
        "confusion": np.bincount(cell, minlength=4).tolist(),
        "groups": {},
        "scores": None if y_score is None else _score_histogram(truth, y_score),
    }
    for attribute, values in (sensitive or {}).items():
        codes, labels = group_codes(values)
        counts = np.bincount(codes * 4 + cell, minlength=4 * len(labels)).reshape(-1, 4)
        partials["groups"][attribute] = {
            label: row.tolist() for label, row in zip(labels, counts, strict=True) if row.any()
        }
    return partials


def binary_partials(
    chunk: pd.DataFrame,
    *,
    target_column: str = "y_true",
    prediction_column: str = "y_pred",
    score_column: str | None = "y_score",
    sensitive_features: Sequence[str] = (),
) -> dict:
    """Additive statistics of one chunk of a binary evaluation (labels already 0/1).

    ``{"n", "confusion": [tn, fp, fn, tp], "groups": {ATTR: {VALUE: [tn, fp, fn, tp]}},
    "scores": None | {"values", "positives", "negatives"}}`` -- counts are ints,
    the score histogram is three numpy arrays sorted by score value. The score
    column is used when ``score_column`` names a column of the chunk.
    """
    scores = chunk[score_column] if score_column and score_column in chunk.columns else None
    return _partials(
        chunk[target_column].to_numpy(),
        chunk[prediction_column].to_numpy(),
        None if scores is None else scores.to_numpy(),
        {attribute: chunk[attribute] for attribute in sensitive_features},
    )


def _merge_histograms(a: dict | None, b: dict | None) -> dict | None:
    if a is None or b is None:
        if a is not b:
            raise ValueError("cannot merge partials with scores and partials without scores")
        return None
    values, inverse = np.unique(np.concatenate([a["values"], b["values"]]), return_inverse=True)
    size = len(values)
    return {
        "values": values,
        "positives": np.bincount(inverse, np.concatenate([a["positives"], b["positives"]]), size).astype(np.int64),
        "negatives": np.bincount(inverse, np.concatenate([a["negatives"], b["negatives"]]), size).astype(np.int64),
    }


def merge_partials(a: dict, b: dict) -> dict:
    """The partial statistics of the union of the two chunks (counts add, histograms merge by score value)."""
    groups = {attribute: dict(counts) for attribute, counts in a["groups"].items()}
    if set(groups) != set(b["groups"]):
        raise ValueError("cannot merge partials computed over different sensitive features")
    for attribute, counts in b["groups"].items():
        merged = groups[attribute]
        for label, row in counts.items():
            merged[label] = [x + y for x, y in zip(merged.get(label, (0, 0, 0, 0)), row, strict=True)]
    return {
        "n": a["n"] + b["n"],
        "confusion": [x + y for x, y in zip(a["confusion"], b["confusion"], strict=True)],
        "groups": groups,
        "scores": _merge_histograms(a["scores"], b["scores"]),
    }


# ---------------------------------------------------------------- binary: metrics from partials


def _overall(confusion: Sequence[int], histogram: dict | None) -> dict:
    tn, fp, fn, tp = confusion
    n = tn + fp + fn + tp
    overall = {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": None,
        "log_loss": None,
        "brier": None,
    }
    if histogram is not None and n:
        values = np.asarray(histogram["values"], dtype=np.float64)
        positives = np.asarray(histogram["positives"], dtype=np.int64)
        negatives = np.asarray(histogram["negatives"], dtype=np.int64)
        n_pos, n_neg = int(positives.sum()), int(negatives.sum())
        if n_pos and n_neg:
            # Mann-Whitney U in integers (exact): each positive beats the negatives below it, ties count 1/2.
            below = np.cumsum(negatives) - negatives
            overall["roc_auc"] = _num(int((positives * (2 * below + negatives)).sum()) / (2 * n_pos * n_neg))
        log_p, log_q = np.log(np.clip(values, EPS, 1 - EPS)), np.log(np.clip(1 - values, EPS, 1 - EPS))
        overall["log_loss"] = _num(-(positives @ log_p + negatives @ log_q) / n)
        overall["brier"] = _num((positives @ (1 - values) ** 2 + negatives @ values**2) / n)
    return overall


def _group_row(counts: Sequence[int]) -> dict:
    tn, fp, fn, tp = counts
    n = tn + fp + fn + tp
    return {
        "count": n,
        "accuracy": _ratio(tp + tn, n),
        "selection_rate": _ratio(tp + fp, n),
        "true_positive_rate": _ratio(tp, tp + fn),
        "false_positive_rate": _ratio(fp, fp + tn),
        "selection_rate_ratio": None,
        "selection_rate_ci": wilson_interval(tp + fp, n),
    }


def _spread(values: list[float | None]) -> tuple[float | None, float | None]:
    """(max - min, min / max) over the defined values."""
    defined = [v for v in values if v is not None]
    if not defined:
        return None, None
    low, high = min(defined), max(defined)
    return _num(high - low), _ratio(low, high)


def _independence_p_value(counts: dict[str, Sequence[int]]) -> float | None:
    """Chi-square test that the selection rate does not depend on the group (2 x k table)."""
    table = np.array([[c[1] + c[3] for c in counts.values()], [c[0] + c[2] for c in counts.values()]])
    if table.shape[1] < 2 or not table.sum(axis=1).all():
        return None
    return _num(stats.chi2_contingency(table).pvalue)


REFERENCE_HIGHEST_RATE = "highest_selection_rate"
REFERENCE_CONFIGURED = "configured"


def _highest_rate_group(counts: dict[str, Sequence[int]]) -> str | None:
    """The group with the highest selection rate, the four-fifths rule's comparator (29 CFR 1607.4(D)).

    Rates are compared as exact fractions; a tie goes to the larger group, then to the first label in
    sorted order, so the choice never depends on the order of the rows. Groups without rows have no rate
    and are skipped.
    """
    def key(label: str) -> tuple[Fraction, int]:
        tn, fp, fn, tp = counts[label]
        n = tn + fp + fn + tp
        return Fraction(tp + fp, n), n

    defined = sorted(label for label, row in counts.items() if sum(row))
    return max(defined, key=key) if defined else None


def _reference(counts: dict[str, Sequence[int]], configured: str | None) -> tuple[str | None, str, str]:
    """(reference group, the rule that chose it, a note for the reader when the configuration was not usable)."""
    if configured is not None and configured in counts:
        return configured, REFERENCE_CONFIGURED, ""
    reference = _highest_rate_group(counts)
    if configured is None:
        return reference, REFERENCE_HIGHEST_RATE, ""
    return reference, REFERENCE_HIGHEST_RATE, (
        f"The configured reference group '{configured}' is not in the data, so the group with the highest "
        f"selection rate is used instead.")


def _fairness(counts: dict[str, Sequence[int]], rows: dict[str, dict], configured: str | None) -> dict:
    reference, rule, note = _reference(counts, configured)
    reference_rate = rows[reference]["selection_rate"] if reference is not None else None
    if rule == REFERENCE_CONFIGURED and reference_rate == 0:
        # Otherwise "below four-fifths: none" would read as a pass when nothing could be compared.
        note = (f"The configured reference group '{reference}' has a selection rate of 0, so no group's "
                f"selection-rate ratio is defined.")
    for row in rows.values():
        row["selection_rate_ratio"] = _ratio(row["selection_rate"], reference_rate) if reference_rate else None
    dp_difference, dp_ratio = _spread([row["selection_rate"] for row in rows.values()])
    tpr_difference, tpr_ratio = _spread([row["true_positive_rate"] for row in rows.values()])
    fpr_difference, fpr_ratio = _spread([row["false_positive_rate"] for row in rows.values()])
    differences = [d for d in (tpr_difference, fpr_difference) if d is not None]
    ratios = [r for r in (tpr_ratio, fpr_ratio) if r is not None]
    return {
        "demographic_parity_difference": dp_difference,
        "demographic_parity_ratio": dp_ratio,
        "equalized_odds_difference": max(differences) if differences else None,
        "equalized_odds_ratio": min(ratios) if ratios else None,
        "reference_group": reference,
        "reference_rule": rule,
        "reference_note": note,
        "four_fifths_violations": sorted(
            label for label, row in rows.items()
            if row["selection_rate_ratio"] is not None and row["selection_rate_ratio"] < FOUR_FIFTHS
        ),
        "p_value": _independence_p_value(counts),
    }


def binary_metrics_from_partials(partials: dict, reference_groups: Mapping[str, str] | None = None) -> dict:
    """Overall metrics, per-group rates and fairness summaries from (merged) partial statistics."""
    reference_groups = reference_groups or {}
    groups, fairness = {}, {}
    for attribute, counts in partials["groups"].items():
        ordered = {label: counts[label] for label in sorted(counts)}
        rows = {label: _group_row(row) for label, row in ordered.items()}
        fairness[attribute] = _fairness(ordered, rows, reference_groups.get(attribute))
        groups[attribute] = rows
    return {"overall": _overall(partials["confusion"], partials["scores"]), "groups": groups, "fairness": fairness}


def binary_metrics(
    y_true,
    y_pred,
    y_score=None,
    sensitive: Mapping[str, object] | None = None,
    reference_groups: Mapping[str, str] | None = None,
) -> dict:
    """Metrics of a binary classifier; labels are 0/1, scores are probabilities of class 1.

    ``{"overall": {accuracy, precision, recall, f1, roc_auc, log_loss, brier},
    "groups": {ATTR: {VALUE: {count, accuracy, selection_rate, true_positive_rate, false_positive_rate,
    selection_rate_ratio, selection_rate_ci}}},
    "fairness": {ATTR: {demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference,
    equalized_odds_ratio, reference_group, reference_rule, reference_note, four_fifths_violations, p_value}}}``

    ``selection_rate_ratio`` compares each group with the reference group: ``reference_groups[ATTR]`` when
    it is given and in the data (``reference_rule`` "configured"), otherwise the group with the highest
    selection rate (``reference_rule`` "highest_selection_rate", as the four-fifths rule of 29 CFR
    1607.4(D) says; ``reference_note`` explains a configured group that is not in the data).
    ``four_fifths_violations`` lists groups whose ratio is below 0.8; ``p_value`` is the chi-square
    test (scipy ``chi2_contingency``) that selection does not depend on the group.
    """
    return binary_metrics_from_partials(_partials(y_true, y_pred, y_score, sensitive), reference_groups)


# ---------------------------------------------------------------- multiclass


def _f1_scores(tp: np.ndarray, support: np.ndarray, predicted: np.ndarray) -> tuple[float | None, float | None]:
    """Macro and support-weighted F1 over the labels present in y_true or y_pred.

    From per-label counts (true positives, true and predicted occurrences), the diagonal and margins
    of the confusion matrix: the k x k matrix itself is never built, so memory grows with the labels, not
    with their square (10,000 labels would need 800 MB).
    """
    tp = tp.astype(np.float64)
    present = (support + predicted) > 0
    if not present.any():
        return None, None
    f1 = 2 * tp[present] / (support[present] + predicted[present])
    weighted = _ratio(float(f1 @ support[present]), int(support.sum()))
    return _num(f1.mean()), weighted


def multiclass_metrics(
    y_true,
    y_pred,
    y_proba=None,
    *,
    labels: Sequence | None = None,
    sensitive: Mapping[str, object] | None = None,
) -> dict:
    """Accuracy, macro and weighted F1, and log loss when probabilities are given.

    ``y_proba`` is an (n, k) array whose columns follow ``labels`` (or a DataFrame whose
    columns are the labels); without ``labels`` the columns are the sorted classes of
    ``y_true``, as in scikit-learn. Per sensitive group: count and accuracy.
    """
    truth = pd.Series(np.asarray(y_true)).astype(str)
    predicted = pd.Series(np.asarray(y_pred)).astype(str)
    _check_lengths(len(truth), {"y_pred": predicted, "y_proba": y_proba, **(sensitive or {})})
    classes = sorted(set(truth.unique()) | set(predicted.unique()))
    true_codes = pd.Categorical(truth, categories=classes).codes.astype(np.intp)
    pred_codes = pd.Categorical(predicted, categories=classes).codes.astype(np.intp)
    k, n = len(classes), len(truth)
    correct = true_codes == pred_codes
    f1_macro, f1_weighted = _f1_scores(np.bincount(true_codes[correct], minlength=k),
                                       np.bincount(true_codes, minlength=k), np.bincount(pred_codes, minlength=k))
    overall = {
        "count": n,
        "accuracy": _ratio(int(correct.sum()), n),
        "f1_macro": f1_macro,
        "f1_weighted": f1_weighted,
        "log_loss": None if y_proba is None or not n else _multiclass_log_loss(truth, y_proba, labels),
    }
    groups = {}
    for attribute, values in (sensitive or {}).items():
        codes, group_labels = group_codes(values)
        counts = np.bincount(codes, minlength=len(group_labels))
        hits = np.bincount(codes, weights=correct, minlength=len(group_labels))
        groups[attribute] = {
            label: {"count": int(count), "accuracy": _ratio(float(hit), int(count))}
            for label, count, hit in sorted(zip(group_labels, counts, hits, strict=True)) if count
        }
    return {"overall": overall, "groups": groups}


def _multiclass_log_loss(truth: pd.Series, y_proba, labels: Sequence | None) -> float | None:
    if isinstance(y_proba, pd.DataFrame):
        labels = list(y_proba.columns) if labels is None else labels
        y_proba = y_proba.to_numpy(dtype=np.float64)
    probabilities = np.asarray(y_proba, dtype=np.float64)
    columns = [str(label) for label in labels] if labels is not None else sorted(truth.unique())
    if probabilities.ndim != 2 or probabilities.shape[1] != len(columns):
        raise ValueError(f"y_proba must have one column per label {columns}")
    codes = pd.Categorical(truth, categories=columns).codes
    if (codes < 0).any():
        raise ValueError("y_true contains a label without a probability column")
    chosen = np.clip(probabilities, EPS, 1 - EPS)[np.arange(len(codes)), codes]
    return _num(-np.log(chosen).mean())


# ---------------------------------------------------------------- regression


def _errors(errors: np.ndarray) -> tuple[float | None, float | None]:
    if not errors.size:
        return None, None
    return _num(np.abs(errors).mean()), _num(math.sqrt((errors**2).mean()))


def regression_metrics(y_true, y_pred, *, sensitive: Mapping[str, object] | None = None) -> dict:
    """MAE, RMSE and R2 overall (R2 is None when y_true is constant), MAE and RMSE per sensitive group."""
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    _check_lengths(len(truth), {"y_pred": predicted, **(sensitive or {})})
    errors = truth - predicted
    mae, rmse = _errors(errors)
    total = float(((truth - truth.mean()) ** 2).sum()) if truth.size else 0.0
    r2 = _num(1 - float((errors**2).sum()) / total) if total > 0 and truth.size > 1 else None
    groups = {}
    for attribute, values in (sensitive or {}).items():
        codes, labels = group_codes(values)
        counts = np.bincount(codes, minlength=len(labels))
        absolute = np.bincount(codes, weights=np.abs(errors), minlength=len(labels))
        squared = np.bincount(codes, weights=errors**2, minlength=len(labels))
        groups[attribute] = {
            label: {"count": int(count), "mae": _num(a / count), "rmse": _num(math.sqrt(s / count))}
            for label, count, a, s in sorted(zip(labels, counts, absolute, squared, strict=True)) if count
        }
    return {"overall": {"count": int(truth.size), "mae": mae, "rmse": rmse, "r2": r2}, "groups": groups}
