"""Explanations from a model's outputs: a global surrogate, its fidelity and permutation importances (no Django).

The portal never sees the model itself, only its outputs on an evaluation's rows. A shallow surrogate is fitted
to predict those outputs from the feature columns: for numeric outputs (the score of binary models, the
prediction of regression models) a least-squares line plus a depth-limited decision tree on its residuals
(``LinePlusTree``); for labels (multiclass models, binary models without a score) a depth-limited decision
tree. How well it does on rows it was not fitted on is its *fidelity* (R² for numeric outputs, accuracy for
labels); the importance of a feature is how much that fidelity drops when the feature's held-out values are
shuffled (``sklearn.inspection.permutation_importance``). Importances describe the surrogate, so they say
something about the model only as far as the fidelity is high: below ``FIDELITY_MIN`` the result carries a
caveat.

Why not gradient boosting: permutation importance predicts ``features x repeats x (1 + groups)`` times; a line
and a depth-8 tree predict 12,500 rows in about a millisecond where boosted trees take tens, which keeps the
whole explanation within a few seconds at ``MAX_ROWS`` rows on two cores (``bench/explain_bench.py``).

Groups: for each sensitive attribute, importances are computed again on each group's held-out rows. For
numeric outputs every importance is the rise in mean squared error divided by the variance of the output on
all held-out rows, so the overall importance is exactly the drop in R² and a group's importances are on the
same scale as the overall ones (a group's own R² would divide by the group's variance instead). Groups with
fewer than ``min_group_rows`` held-out rows are skipped and listed.

Everything is deterministic given ``seed``: the row sample, the split, the surrogate and the shuffles.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

FIDELITY_MIN = 0.7
CAVEAT = "The surrogate explains the scores poorly; read importances with care."
MAX_ROWS = 50_000
# Permutation importance copies the held-out rows once per feature: wide files get fewer rows, so the time stays
# bounded by rows x features rather than by rows alone (40 features keep all 50,000 rows, 1,000 keep 2,000).
MAX_CELLS = 2_000_000
MIN_ROWS = 50
MIN_GROUP_ROWS = 100
HELD_OUT = 0.25
N_REPEATS = 5
MAX_DEPTH = 8
MIN_LEAF_ROWS = 20
MAX_CATEGORIES = 64  # the most frequent values of a text feature keep their own code; the rest share one
DEFAULT_SEED = 0
OUTPUT_KINDS = ("score", "prediction", "label")
_SURROGATE_NAMES = {"score": "Least-squares line plus a decision tree on its residuals",
                    "prediction": "Least-squares line plus a decision tree on its residuals",
                    "label": "Decision tree"}


class ExplainError(ValueError):
    """The frame cannot be explained as asked (a missing column, an unknown output kind)."""


def explain_outputs(frame: pd.DataFrame, *, features: Sequence[str], output: str, output_kind: str,
                    sensitive: Sequence[str] = (), seed: int = DEFAULT_SEED, max_rows: int = MAX_ROWS,
                    min_group_rows: int = MIN_GROUP_ROWS) -> dict:
    """Fit the surrogate on (a sample of at most ``max_rows`` of) ``frame`` and report what drives ``output``.

    ``output_kind``: "score" or "prediction" (numeric, explained by regression) or "label" (by classification).
    ``frame`` may already be a sample (drawn while streaming a large file); it is sampled again only if it
    holds more than ``max_rows`` rows, or more than ``MAX_CELLS`` feature cells (wide files). Returns a
    JSON-ready dict whose ``status`` is "done", or "empty" with a ``reason`` when there is nothing to explain
    (no feature, too few rows, a constant output).
    """
    if output_kind not in OUTPUT_KINDS:
        raise ExplainError(f"output_kind must be one of {', '.join(OUTPUT_KINDS)}, not {output_kind!r}.")
    missing = [name for name in [output, *features, *sensitive] if name not in frame.columns]
    if missing:
        raise ExplainError(f"The frame has no column {', '.join(map(repr, missing))}; it has "
                           f"{', '.join(map(str, frame.columns))}.")
    features = [name for name in features if name not in (output, *sensitive)]
    base = {"output": {"column": output, "kind": output_kind}, "rows": {"given": len(frame)}, "seed": seed}
    if not features:
        return {**base, "status": "empty", "reason": "The file has no feature column besides the model's outputs, "
                                                     "labels and sensitive attributes: nothing to explain with."}
    sample = _sample(frame, [output, *features, *sensitive], max_rows=_max_rows(max_rows, len(features)), seed=seed)
    sample = sample[sample[output].notna()]
    if len(sample) < MIN_ROWS:
        return {**base, "status": "empty",
                "reason": f"{len(sample)} rows have an output; a surrogate needs at least {MIN_ROWS}."}
    y = _target(sample[output], output_kind)
    if pd.Series(y).nunique() < 2:
        return {**base, "status": "empty", "reason": f"The model's output {output!r} is the same on every row: "
                                                     "there is nothing to explain."}
    with threadpool_limits(1):  # workers share the machine's cores; threads only add contention at this size
        return _explained(sample, y, features, output, output_kind, sensitive, base=base, given=len(frame),
                          seed=seed, min_group_rows=min_group_rows)


def _explained(sample: pd.DataFrame, y: np.ndarray, features: list[str], output: str, output_kind: str,
               sensitive: Sequence[str], *, base: dict, given: int, seed: int, min_group_rows: int) -> dict:
    x = encode_features(sample, features)
    positions = np.arange(len(sample))
    fit_rows, held_rows = train_test_split(positions, test_size=HELD_OUT, random_state=seed)
    surrogate = _surrogate(output_kind, seed).fit(x[fit_rows], y[fit_rows])
    fidelity, scale = _fidelity(surrogate, x[held_rows], y[held_rows], output_kind)
    importances = _importances(surrogate, x[held_rows], y[held_rows], output_kind, scale=scale, seed=seed)
    ranked = sorted(zip(features, importances, strict=True), key=lambda item: (-item[1][0], item[0]))
    low = fidelity < FIDELITY_MIN
    return {
        **base,
        "status": "done",
        "method": (f"{_SURROGATE_NAMES[output_kind]} (depth at most {MAX_DEPTH}, at least {MIN_LEAF_ROWS} rows "
                   f"per leaf) fitted to {output!r} on {len(fit_rows):,} rows; permutation importance with "
                   f"{N_REPEATS} shuffles on {len(held_rows):,} held-out rows."),
        "rows": {"given": given, "sampled": len(sample), "fitted": len(fit_rows), "held_out": len(held_rows)},
        "fidelity": {"metric": "accuracy" if output_kind == "label" else "r2", "value": fidelity,
                     "minimum": FIDELITY_MIN, "low": low},
        "caveat": CAVEAT if low else "",
        "importance_unit": ("drop in accuracy when the feature is shuffled" if output_kind == "label"
                            else "drop in R² when the feature is shuffled"),
        "importances": [{"feature": name, "rank": rank, "importance": mean, "std": std}
                        for rank, (name, (mean, std)) in enumerate(ranked, start=1)],
        "groups": {attribute: _group_importances(surrogate, x[held_rows], y[held_rows],
                                                 sample[attribute].to_numpy()[held_rows], features, output_kind,
                                                 scale=scale, seed=seed, min_rows=min_group_rows)
                   for attribute in sensitive},
    }


def _max_rows(max_rows: int, features: int) -> int:
    return min(max_rows, max(MAX_CELLS // max(features, 1), MIN_ROWS))


def sample_positions(rows: int, *, features: int, max_rows: int = MAX_ROWS, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The positions, in file order, of the rows ``explain_outputs`` samples from a frame of ``rows`` rows and
    ``features`` features: a caller streaming a large file keeps just these and gets the same explanation."""
    return _positions(rows, _max_rows(max_rows, features), seed)


def _positions(rows: int, max_rows: int, seed: int) -> np.ndarray:
    if rows <= max_rows:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))


def _sample(frame: pd.DataFrame, columns: list[str], *, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``columns``, drawn without replacement, kept in file order.

    Rows are drawn before columns are selected, so a large frame is never copied whole.
    """
    return frame.iloc[_positions(len(frame), max_rows, seed)][columns].reset_index(drop=True)


def encode_features(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as the float32 matrix a tree reads; missing values stay NaN (the tree routes them).

    Numbers and booleans are taken as they are (infinities become missing), date-times as seconds since the
    earliest (small enough for float32 to keep them apart), and any other column as text, coded by frequency:
    the ``MAX_CATEGORIES - 1`` most frequent values get their own code (ties broken by the value, so the codes
    never depend on row order) and the rest share the last one.
    """
    columns = []
    for name in features:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            column = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            column = np.where(np.isinf(column), np.nan, column)
        elif pd.api.types.is_datetime64_any_dtype(values):
            stamps = pd.to_datetime(values, utc=True)
            column = (stamps - stamps.min()).dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
        else:
            column = _codes(values)
        columns.append(column)
    return np.column_stack(columns).astype(np.float32)


def _codes(values: pd.Series) -> np.ndarray:
    text = values.astype("string")
    counts = text.value_counts(dropna=True)
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    codes = {value: float(code) for code, (value, _) in enumerate(order[:MAX_CATEGORIES - 1])}
    coded = text.map(codes).astype("float64")
    return coded.where(coded.notna() | text.isna(), float(MAX_CATEGORIES - 1)).to_numpy()


def _target(values: pd.Series, output_kind: str) -> np.ndarray:
    if output_kind == "label":
        return values.astype("string").to_numpy(dtype=object)
    return pd.to_numeric(values, errors="raise").astype("float64").to_numpy()


def _surrogate(output_kind: str, seed: int):
    if output_kind == "label":
        return DecisionTreeClassifier(max_depth=MAX_DEPTH, min_samples_leaf=MIN_LEAF_ROWS, random_state=seed)
    return LinePlusTree(random_state=seed)


class LinePlusTree(RegressorMixin, BaseEstimator):
    """A least-squares line through the features plus a depth-limited tree fitted to what the line leaves over.

    A tree alone approximates additive scores poorly (a logistic regression over 25 features: R² 0.26 with a
    depth-8 tree, 0.90 with this) and a line alone misses interactions; the sum fits both and stays as cheap to
    predict as the tree. For the line a missing value is its column's mean on the fitted rows; the tree routes
    missing values itself.
    """

    def __init__(self, *, max_depth: int = MAX_DEPTH, min_samples_leaf: int = MIN_LEAF_ROWS, random_state: int = 0):
        self.max_depth, self.min_samples_leaf, self.random_state = max_depth, min_samples_leaf, random_state

    def fit(self, x: np.ndarray, y: np.ndarray) -> "LinePlusTree":
        known = ~np.isnan(x)
        self.means_ = np.where(known, x, 0).sum(axis=0, dtype="float64") / np.maximum(known.sum(axis=0), 1)
        self.line_ = LinearRegression().fit(self._filled(x).astype("float64"), y)
        self.tree_ = DecisionTreeRegressor(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
                                           random_state=self.random_state)
        self.tree_.fit(x, y - self.line_.predict(self._filled(x).astype("float64")))
        return self

    def _filled(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), self.means_.astype(x.dtype), x)

    def predict(self, x: np.ndarray, check_input: bool = True) -> np.ndarray:
        line = self._filled(x) @ self.line_.coef_.astype(x.dtype) + self.line_.intercept_
        return line + self.tree_.predict(x, check_input=check_input)

    def used_features(self) -> np.ndarray:
        return np.flatnonzero((self.line_.coef_ != 0) | np.isin(np.arange(len(self.means_)), self.tree_.tree_.feature))


def _fidelity(surrogate, x: np.ndarray, y: np.ndarray, output_kind: str) -> tuple[float, float]:
    """(fidelity on the held-out rows, the scale that turns a rise in squared error into a drop in R²)."""
    predicted = surrogate.predict(x)
    if output_kind == "label":
        return float(accuracy_score(y, predicted)), 1.0
    variance = float(np.var(y))
    if variance == 0.0:
        return 0.0, 1.0  # the held-out rows happen to share one output: R² is undefined, so not trusted
    return float(1.0 - mean_squared_error(y, predicted) / variance), variance


class _UsedFeatures(BaseEstimator):
    """The fitted surrogate seen through the features it uses, for ``permutation_importance``.

    Shuffling a feature the surrogate never uses (no split of the tree, a zero coefficient of the line) cannot
    change a prediction, so its importance is exactly zero and is not computed. The shuffles are the same as on
    the whole matrix (``permutation_importance`` draws each feature's shuffles from one seed), and predictions
    skip scikit-learn's input checks, which cost more than a depth-8 tree's prediction.
    """

    def __init__(self, surrogate, used: np.ndarray, width: int):
        self.surrogate, self.used, self.width = surrogate, used, width

    def fit(self, x, y):  # permutation_importance asks for an estimator; this one is fitted already
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, x: np.ndarray) -> np.ndarray:
        full = np.zeros((len(x), self.width), dtype=np.float32)  # the tree reads float32, as it was fitted
        full[:, self.used] = x
        return self.surrogate.predict(full, check_input=False)


def _used(surrogate, width: int) -> np.ndarray:
    if isinstance(surrogate, LinePlusTree):
        return surrogate.used_features()
    return np.flatnonzero(np.isin(np.arange(width), surrogate.tree_.feature))


def _importances(surrogate, x: np.ndarray, y: np.ndarray, output_kind: str, *, scale: float,
                 seed: int) -> list[tuple[float, float]]:
    """(mean, standard deviation) of each feature's importance, in the unit described in the module docstring."""
    used = _used(surrogate, x.shape[1])
    result = [(0.0, 0.0)] * x.shape[1]
    if not len(used) or not len(x):
        return result
    scoring = "accuracy" if output_kind == "label" else "neg_mean_squared_error"
    found = permutation_importance(_UsedFeatures(surrogate, used, x.shape[1]), x[:, used], y, scoring=scoring,
                                   n_repeats=N_REPEATS, random_state=seed)
    for column, mean, std in zip(used, found.importances_mean, found.importances_std, strict=True):
        result[column] = (float(mean) / scale, float(std) / scale)
    return result


def _group_importances(surrogate, x: np.ndarray, y: np.ndarray, groups: np.ndarray, features: Sequence[str],
                       output_kind: str, *, scale: float, seed: int, min_rows: int) -> dict:
    """Importances within each group's held-out rows; groups below ``min_rows`` held-out rows are skipped.

    The same definition as ``permutation_importance`` on each group's rows alone (a feature's values are shuffled
    among the group's rows, ``N_REPEATS`` times, and the loss compared with the unshuffled one), computed for
    all groups of the attribute at once: one prediction per feature and shuffle instead of one per group, which
    is what keeps an attribute with many groups within the time budget.
    """
    names = pd.Series(groups).astype("string").fillna("(missing)").to_numpy(dtype=str)
    labels, codes = np.unique(names, return_inverse=True)
    counts = np.bincount(codes, minlength=len(labels))
    kept = [k for k in range(len(labels)) if counts[k] >= min_rows]
    result = {"min_rows": min_rows, "groups": {}, "skipped": {str(labels[k]): int(counts[k])
                                                             for k in range(len(labels)) if counts[k] < min_rows}}
    if not kept:
        return result
    members = [np.flatnonzero(codes == k) for k in kept]
    baseline = _group_losses(surrogate.predict(x, check_input=False), y, codes, len(labels), output_kind)
    rng = np.random.RandomState(seed)
    drops = np.zeros((len(labels), x.shape[1]))
    shuffled = x.copy()
    for column in _used(surrogate, x.shape[1]):
        for _ in range(N_REPEATS):
            for rows in members:
                shuffled[rows, column] = x[rng.permutation(rows), column]
            losses = _group_losses(surrogate.predict(shuffled, check_input=False), y, codes, len(labels),
                                   output_kind)
            drops[:, column] += (losses - baseline) / N_REPEATS
        shuffled[:, column] = x[:, column]
    for k in kept:
        result["groups"][str(labels[k])] = {
            "rows": int(counts[k]),
            "importances": {f: float(drops[k, j]) / scale for j, f in enumerate(features)}}
    return result


def _group_losses(predicted: np.ndarray, y: np.ndarray, codes: np.ndarray, n: int, output_kind: str) -> np.ndarray:
    """Per group: the error rate for labels, the mean squared error for numbers (higher is worse for both)."""
    wrong = (predicted != y).astype("float64") if output_kind == "label" else (predicted - y) ** 2
    return np.bincount(codes, weights=wrong, minlength=n) / np.maximum(np.bincount(codes, minlength=n), 1)


def importance_shift(validation: Mapping, production: Mapping) -> list[dict]:
    """How each feature's importance moved from a validation explanation to a production one.

    ``change`` is production minus validation; ``rank_change`` is the validation rank minus the production
    rank, so a positive number means the feature drives production outputs more than it drove validation
    ones. A feature present on one side only has ``None`` for the other side and for both changes. Sorted by
    the size of the change, largest first, then by name.
    """
    before = {item["feature"]: item for item in validation.get("importances") or []}
    after = {item["feature"]: item for item in production.get("importances") or []}
    rows = []
    for feature in sorted(set(before) | set(after)):
        old, new = before.get(feature), after.get(feature)
        both = old is not None and new is not None
        rows.append({
            "feature": feature,
            "validation": old["importance"] if old else None, "production": new["importance"] if new else None,
            "validation_rank": old["rank"] if old else None, "production_rank": new["rank"] if new else None,
            "change": new["importance"] - old["importance"] if both else None,
            "rank_change": old["rank"] - new["rank"] if both else None,
        })
    return sorted(rows, key=lambda row: (-abs(row["change"]) if row["change"] is not None else 1, row["feature"]))
