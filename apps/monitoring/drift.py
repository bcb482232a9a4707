"""Feature drift of a current data set against a reference (pure numpy/pandas/scipy, no Django imports).

Population Stability Index (PSI), per feature:

* Numeric features are binned on the *reference* deciles. The inner bin edges are
  ``numpy.unique(numpy.quantile(reference, [0.1, 0.2, ..., 0.9]))`` (duplicates
  collapse, so a feature with few distinct values gets fewer bins); a value ``x``
  falls in bin ``numpy.searchsorted(edges, x, side="right")``, i.e. bin ``i``
  holds ``edges[i-1] <= x < edges[i]``, with everything below the first edge in
  bin 0 and everything at or above the last edge in the last bin. So there are
  ``len(edges) + 1`` bins, and the reference spreads over them in about tenths.
* Categorical features use one bin per category of the union of both data sets.

The share of each bin (count / total) is floored at 0.0001 so that an empty bin
does not give log(0); PSI = sum over bins of ``(cur - ref) * ln(cur / ref)``.
Usual reading: below 0.1 stable, 0.1-0.2 moderate shift, above 0.2 significant.

Prediction drift (``prediction_drift``) applies the same definitions to the model's outputs: the score
(a numeric column, or a regression's prediction) is binned like a numeric feature, and a classifier's
predicted label like a categorical one, whatever its dtype (labels 0/1 are categories, not numbers).

Alongside PSI: numeric features get the two-sample Kolmogorov-Smirnov test
(``scipy.stats.ks_2samp``: statistic and p-value); categorical features the
chi-square test of independence (``scipy.stats.chi2_contingency``) on the
2 x k table of category counts (statistic and p-value). Missing values are
left out of numeric features and form a category of their own in
categorical ones.
"""

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SHARE_FLOOR = 0.0001
# Columns that describe the evaluation rather than the model's inputs.
NON_FEATURE_COLUMNS = frozenset({"y_true", "y_pred", "y_score", "timestamp"})
MISSING_CATEGORY = "(missing)"
# scipy's ks_2samp(method="auto") computes exact p-values up to this sample size.
KS_EXACT_MAX_N = 10000
# Beyond it, a p-value that Massart's bound puts below this floor is reported as 0.0 (see ks_two_sample).
KS_P_VALUE_FLOOR = 1e-12


def psi_from_counts(reference_counts, current_counts) -> float:
    """PSI of two aligned count vectors (one entry per bin), shares floored at 0.0001."""
    reference = np.asarray(reference_counts, dtype=np.float64)
    current = np.asarray(current_counts, dtype=np.float64)
    reference_share = np.maximum(reference / reference.sum(), SHARE_FLOOR)
    current_share = np.maximum(current / current.sum(), SHARE_FLOOR)
    return float(((current_share - reference_share) * np.log(current_share / reference_share)).sum())


def decile_edges(reference) -> np.ndarray:
    """Inner bin edges: the distinct reference deciles."""
    return np.unique(np.quantile(np.asarray(reference, dtype=np.float64), QUANTILES))


def numeric_psi(reference, current) -> float:
    """PSI of a numeric feature over the reference decile bins (see the module docstring)."""
    edges = decile_edges(reference)
    bins = len(edges) + 1
    reference_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins)
    current_counts = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins)
    return psi_from_counts(reference_counts, current_counts)


def _sorted_bin_counts(ordered: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin counts of ``numeric_psi`` for sorted data: bin i holds edges[i-1] <= x < edges[i]."""
    return np.diff(np.r_[0, np.searchsorted(ordered, edges, side="left"), ordered.size])


def _run_ends(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted data and how many values are <= each."""
    last = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    return ordered[last], last + 1


def ks_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """``scipy.stats.ks_2samp(reference, current)`` (two-sided, method "auto") for *sorted* samples.

    Small samples (scipy's exact mode) go to scipy. Large ones repeat scipy's asymptotic
    computation with the same arithmetic -- the statistic is the largest gap between the two
    empirical CDFs at the data points (count/n1 - count/n2), the p-value
    ``kstwo.sf(d, N)`` with ``N = round(n1 n2 / (n1 + n2))`` -- but look up only the distinct
    values of each sample in the other, instead of all n1 + n2 points in both.

    One deliberate difference: ``kstwo.sf`` costs time linear in N (0.4 s at N = 500,000) when
    2.2 <= N d^2 < 370; scipy itself returns 0.0 above 370. Massart's inequality bounds the
    p-value by ``2 exp(-2 N d^2)``, so when that bound is below ``KS_P_VALUE_FLOOR`` (1e-12) the
    p-value is reported as 0.0: within 1e-12 of scipy's, and identical to it everywhere else.
    """
    n1, n2 = reference.size, current.size
    if max(n1, n2) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(reference, current)
        return float(result.statistic), float(result.pvalue)
    values1, below1 = _run_ends(reference)
    values2, below2 = _run_ends(current)
    return _ks_asymptotic(np.concatenate([
        below1 / n1 - np.searchsorted(current, values1, side="right") / n2,
        np.searchsorted(reference, values2, side="right") / n1 - below2 / n2,
    ]), n1, n2)


def _ks_asymptotic(differences: np.ndarray, n1: int, n2: int) -> tuple[float, float]:
    """scipy's asymptotic KS statistic and p-value from the ECDF differences at every distinct value."""
    largest, smallest = differences.max(), np.clip(-differences.min(), 0, 1)
    statistic = smallest if smallest > largest else largest
    m, n = sorted([float(n1), float(n2)], reverse=True)
    effective_n = np.round(m * n / (m + n))
    if 2 * math.exp(-2 * effective_n * statistic**2) < KS_P_VALUE_FLOOR:
        return float(statistic), 0.0
    return float(statistic), float(np.clip(stats.kstwo.sf(statistic, effective_n), 0, 1))


def quantiles_from_counts(values: np.ndarray, counts: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """``numpy.quantile(sample, quantiles)`` (method "linear") of a sample given as sorted distinct values
    and their counts, with numpy's arithmetic: virtual index ``(n - 1) q``, and its two-sided lerp."""
    ends = np.cumsum(counts)
    n = int(ends[-1])
    virtual = (n - 1) * np.asarray(quantiles, dtype=np.float64)
    previous = np.floor(virtual)
    following = np.minimum(previous + 1, n - 1)
    above = virtual >= n - 1
    previous[above] = following[above] = n - 1
    gamma = virtual - previous
    low = values[np.searchsorted(ends, previous.astype(np.int64), side="right")]
    high = values[np.searchsorted(ends, following.astype(np.int64), side="right")]
    difference = high - low
    return np.where(gamma >= 0.5, high - difference * (1 - gamma), low + difference * gamma)


def decile_edges_from_counts(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``decile_edges`` of a sample given as sorted distinct values and their counts."""
    return np.unique(quantiles_from_counts(values, counts))


def numeric_drift_against_reference(reference: tuple[np.ndarray, np.ndarray], *, current_count: int,
                                    current_bins: np.ndarray, at_or_below: np.ndarray, below: np.ndarray,
                                    current_sample: np.ndarray | None) -> dict:
    """``numeric_drift`` when the current sample is known only through counts: memory grows with the
    reference's distinct values, not with the current sample, however many rows it has.

    ``reference`` is (sorted distinct values r_0 < r_1 < ..., count of each); ``current_bins`` the current
    counts in the bins of ``decile_edges_from_counts(*reference)``; ``at_or_below[i]`` and ``below[i]`` the
    numbers of current values <= r_i and < r_i; ``current_sample`` the current values themselves when there
    are at most ``KS_EXACT_MAX_N`` of them (scipy's exact mode needs them), else None.

    The KS statistic is the largest gap between the two empirical CDFs. Between two reference points r_i
    and r_{i+1} the reference CDF is constant and the current one only rises, so the gap there is largest
    at one of the two ends: at r_i (counts ``below1[i]`` and ``at_or_below[i]``) or at the last current value
    before r_{i+1} (counts ``below1[i]`` and ``below[i + 1]``). Those count pairs are pairs that
    ``ks_two_sample`` evaluates too, divided the same way, so statistic and p-value are the same numbers.
    """
    values, counts = reference
    reference_count = int(counts.sum())
    if not reference_count or not current_count:
        return _result("numeric", reference_count=reference_count, current_count=current_count)
    edges = decile_edges_from_counts(values, counts)
    reference_bins = np.diff(np.r_[0, np.r_[0, np.cumsum(counts)][np.searchsorted(values, edges, side="left")],
                                   reference_count])
    psi = psi_from_counts(reference_bins, current_bins)
    if max(reference_count, current_count) <= KS_EXACT_MAX_N:
        statistic, p_value = ks_two_sample(np.repeat(values, counts), np.sort(current_sample))
    else:
        below1 = np.cumsum(counts)
        statistic, p_value = _ks_asymptotic(np.concatenate([
            below1 / reference_count - at_or_below / current_count,
            np.r_[0, below1[:-1]] / reference_count - below / current_count,
        ]), reference_count, current_count)
    return _result("numeric", psi, statistic, p_value, reference_count, current_count)


def _result(kind: str, psi=None, statistic=None, p_value=None, reference_count=0, current_count=0) -> dict:
    def finite(value):
        return float(value) if value is not None and np.isfinite(value) else None

    return {
        "kind": kind,
        "psi": finite(psi),
        "statistic": finite(statistic),
        "p_value": finite(p_value),
        "reference_count": int(reference_count),
        "current_count": int(current_count),
    }


def _sorted_without_nan(values: pd.Series) -> np.ndarray:
    ordered = np.sort(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if ordered.size and np.isnan(ordered[-1]):  # NaN sorts last
        ordered = ordered[: np.searchsorted(np.isnan(ordered), True)]
    return ordered


def numeric_drift(reference: pd.Series, current: pd.Series) -> dict:
    """PSI and the Kolmogorov-Smirnov test of one numeric feature (missing values left out)."""
    # Sorted once, the data gives the deciles, the bin counts and the KS statistic by binary search.
    reference = _sorted_without_nan(reference)
    current = _sorted_without_nan(current)
    if not reference.size or not current.size:
        return _result("numeric", reference_count=reference.size, current_count=current.size)
    edges = decile_edges(reference)
    psi = psi_from_counts(_sorted_bin_counts(reference, edges), _sorted_bin_counts(current, edges))
    statistic, p_value = ks_two_sample(reference, current)
    return _result("numeric", psi, statistic, p_value, reference.size, current.size)


def category_counts(values: pd.Series) -> pd.Series:
    """Count per category (as a string); missing values count as ``"(missing)"``. The counts of parts of a
    column add up (``pandas.concat(parts).groupby(level=0, sort=False).sum()``) to the whole column's."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        counts = np.bincount(values.cat.codes.to_numpy() + 1, minlength=len(categories) + 1)
        counts = pd.Series(counts, index=[np.nan, *categories])
    else:
        counts = values.value_counts(dropna=False, sort=False)
    counts = counts[counts > 0]
    labels = [MISSING_CATEGORY if pd.isna(label) else str(label) for label in counts.index]
    return counts.set_axis(labels).groupby(level=0, sort=False).sum()


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict:
    """PSI over the union of categories and the chi-square test on the 2 x k count table."""
    return categorical_drift_from_counts(category_counts(reference), category_counts(current))


def categorical_drift_from_counts(reference: pd.Series, current: pd.Series) -> dict:
    """``categorical_drift`` of two samples given as their ``category_counts``."""
    table = pd.concat([reference, current], axis=1).fillna(0).to_numpy()
    reference_count, current_count = table.sum(axis=0)
    if not reference_count or not current_count:
        return _result("categorical", reference_count=reference_count, current_count=current_count)
    chi2 = stats.chi2_contingency(table.T)
    return _result("categorical", psi_from_counts(table[:, 0], table[:, 1]), chi2.statistic, chi2.pvalue,
                   reference_count, current_count)


def is_numeric_feature(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def drift_features(reference_df: pd.DataFrame, current_df: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """Columns of both data sets, in reference order, minus the target/prediction/score/timestamp and ``exclude``."""
    skipped = NON_FEATURE_COLUMNS | set(exclude)
    current = set(current_df.columns)
    return [column for column in reference_df.columns if column in current and column not in skipped]


def feature_drift(
    reference_df: pd.DataFrame,
    current_df: pd.DataFrame,
    features: Sequence[str] | None = None,
    *,
    exclude: Iterable[str] = (),
) -> dict[str, dict]:
    """Drift of every feature against the reference.

    Returns ``{FEATURE: {"kind", "psi", "statistic", "p_value", "reference_count", "current_count"}}``.

    ``features`` defaults to the common columns except ``y_true``/``y_pred``/``y_score``/``timestamp``
    and the columns in ``exclude`` (pass the target, prediction, score, timestamp and sensitive
    columns when they have other names). A feature is numeric when it is numeric (not boolean) in
    both data sets, categorical otherwise; statistic is KS for numeric, chi-square for categorical.
    """
    if features is None:
        features = drift_features(reference_df, current_df, exclude)
    results = {}
    for feature in features:
        reference, current = reference_df[feature], current_df[feature]
        if is_numeric_feature(reference) and is_numeric_feature(current):
            results[feature] = numeric_drift(reference, current)
        else:
            results[feature] = categorical_drift(reference, current)
    return results


def prediction_drift(
    reference_df: pd.DataFrame,
    current_df: pd.DataFrame,
    *,
    prediction: str | None,
    score: str | None = None,
    numeric_prediction: bool = False,
) -> dict[str, dict]:
    """Drift of the model's outputs against the reference's, by the feature drift definitions.

    Returns ``{"score": {...}, "prediction": {...}}`` with the keys of ``feature_drift``'s results plus
    ``column``, for whichever of the two columns both data sets hold. The predicted label is categorical
    (chi-square) unless ``numeric_prediction`` (a regression), when it is numeric (KS).
    """
    results = {}
    if score and score in reference_df.columns and score in current_df.columns:
        results["score"] = {**numeric_drift(reference_df[score], current_df[score]), "column": score}
    if prediction and prediction in reference_df.columns and prediction in current_df.columns:
        compare = numeric_drift if numeric_prediction else categorical_drift
        results["prediction"] = {**compare(reference_df[prediction], current_df[prediction]), "column": prediction}
    return results
