"""Demo evaluations: real predictions of re-trained demo models on the bundled scikit-learn data.

For a handful of binary models in production the seed re-fits the live version
(same algorithm, hyperparameters and split as ``apps.demo.inventory``), uploads its
reference features and a validation evaluation on the held-out test set, then
twelve windows of production data at the model's monitoring cadence: rows
drawn from the whole bundled data set. One model's inputs drift
more each window (its PSI and accuracy show it); another starts mis-scoring one
group (its fairness metrics show it). Everything goes through the same upload
and computation services as a real upload, so alerts and charts are true.
"""

import io
from datetime import timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from apps.demo.inventory import (
    ALGORITHM_LABELS,
    DATASETS_BY_KEY,
    FAMILIES,
    build_estimator,
    load_family,
    load_split,
    sensitive_attribute,
)
from apps.inventory.models import ModelVersion, Stage
from apps.monitoring import services
from apps.monitoring.models import Alert, Evaluation, MetricWindow
from apps.risk.selectors import obligations_for

MODELS_SEEDED = 5
ROWS_PER_WINDOW = 600
WINDOWS = 12
FEATURES = 8
WINDOW_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}


def family_of(version: ModelVersion) -> str | None:
    names = {d.name for d in version.training_datasets.all()}
    families = {spec.family for spec in DATASETS_BY_KEY.values() if spec.name in names and spec.family}
    family = families.pop() if len(families) == 1 else None
    return family if family and FAMILIES[family].task == "binary" else None


def _fit(version: ModelVersion, family: str):
    algorithm = next(key for key, label in ALGORITHM_LABELS.items() if label == version.algorithm)
    split = load_split(family)
    estimator = build_estimator(algorithm, "binary", version.hyperparameters)
    estimator.fit(split.X_train, split.y_train)
    return estimator, split


def _frame(estimator, X, y, sex, *, timestamps=None, flip_group_share: float = 0.0, rng=None) -> pd.DataFrame:
    scores = estimator.predict_proba(X)[:, 1]
    if flip_group_share:
        # A broken upstream feature for one group: part of its positive scores collapse.
        hit = (sex == "female") & (scores >= 0.5) & (rng.random(len(scores)) < flip_group_share)
        scores = np.where(hit, scores * 0.3, scores)
    frame = pd.DataFrame({"y_true": y, "y_pred": (scores >= 0.5).astype(int), "y_score": scores.round(6),
                          "sex": sex})
    for i in range(FEATURES):
        frame[f"x{i}"] = X[:, i].round(5)
    if timestamps is not None:
        frame["timestamp"] = timestamps
    return frame


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _upload(version, frame, *, kind: str, name: str) -> Evaluation:
    evaluation, _ = services.evaluation_upload(actor=None, version=version, data=_csv(frame), filename=name,
                                               kind=kind, sensitive_features=["sex"])
    services.evaluation_compute(evaluation_id=evaluation.pk)
    # Explained here, in upload order, rather than by the task once the seed commits: production evaluations then
    # find their validation's explanation to compare with, and the demo shows them without waiting for a worker.
    services.evaluation_explain(evaluation_id=evaluation.pk)
    return evaluation


def seed_model(version: ModelVersion, family: str, *, scenario: str, cadence: str) -> None:
    estimator, split = _fit(version, family)
    rng = np.random.default_rng(version.pk)
    X_all, y_all = load_family(family)
    sex_all = sensitive_attribute(family, "sex")
    test_rows = np.array([np.flatnonzero((X_all == row).all(axis=1))[0] for row in split.X_test])
    reference = pd.DataFrame({f"x{i}": split.X_train[:, i] for i in range(FEATURES)})
    # The model's outputs on the same rows, so prediction drift is measured too.
    train_scores = estimator.predict_proba(split.X_train)[:, 1]
    reference["y_score"], reference["y_pred"] = train_scores.round(6), (train_scores >= 0.5).astype(int)
    services.reference_upload(actor=None, version=version, data=_csv(reference), filename="reference.csv")
    _upload(version, _frame(estimator, split.X_test, split.y_test, sex_all[test_rows]), kind="validation",
            name="validation.csv")
    length = timedelta(days=WINDOW_DAYS[cadence])
    end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    frames = []
    for window in range(WINDOWS):
        start = end - (WINDOWS - window) * length
        # Production traffic is drawn from the whole population the model was built for.
        pick = rng.integers(0, len(y_all), ROWS_PER_WINDOW)
        X = X_all[pick].astype(float)
        if scenario == "drift":
            X[:, :FEATURES] *= 1 + 0.06 * window  # inputs creep upwards: a changed population
        offsets = rng.uniform(0, length.total_seconds(), ROWS_PER_WINDOW)
        stamps = [(start + timedelta(seconds=float(s))).isoformat() for s in offsets]
        flip = 0.08 * max(0, window - 5) if scenario == "fairness" else 0.0
        frames.append(_frame(estimator, X, y_all[pick], sex_all[pick], timestamps=stamps,
                             flip_group_share=flip, rng=rng))
    _upload(version, pd.concat(frames, ignore_index=True), kind="production", name="production-predictions.csv")
    for window in range(WINDOWS):
        start = end - (WINDOWS - window) * length
        services.window_compute(version=version, cadence=cadence, start=start, end=start + length)


@transaction.atomic
def seed(*, stdout) -> None:
    if Evaluation.objects.exists():
        stdout.write("Monitoring demo: already seeded.")
        return
    candidates = []
    for version in ModelVersion.objects.filter(stage=Stage.PRODUCTION).select_related("model").order_by("model__name"):
        family = family_of(version)
        if family:
            candidates.append((version, family))
    scenarios = ["drift", "fairness", "stable", "stable", "stable"]
    for (version, family), scenario in zip(candidates[:MODELS_SEEDED], scenarios, strict=False):
        policy = obligations_for(version.model).policy
        seed_model(version, family, scenario=scenario, cadence=policy.monitoring_cadence if policy else "monthly")
        stdout.write(f"Monitoring demo: {version} ({scenario}, {policy.monitoring_cadence if policy else 'monthly'}).")
    stdout.write(f"Monitoring demo: {Evaluation.objects.count()} evaluations, {MetricWindow.objects.count()} "
                 f"metric windows, {Alert.objects.count()} alerts.")
