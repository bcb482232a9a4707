"""Explanations from outputs: the surrogate's fidelity, permutation importances overall and per group, the shift
between validation and production, and where they are shown (page, API, review evidence)."""


import io

import numpy as np
import pandas as pd
import pytest
from rest_framework.test import APIClient
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

from apps.monitoring import explain, services
from apps.monitoring.api.serializers import EvaluationSerializer
from apps.monitoring.models import Evaluation
from tests.factories import api_key_for
from tests.fuzz.conformance import api_schema, assert_documented
from tests.inventory.factories import ModelVersionFactory
from tests.monitoring.test_views import make_evaluation
from tests.reviews.helpers import assessed_version, submitted_review

FEATURES = ["x1", "x2", "noise"]


def synthetic(n=2000, *, seed=0) -> pd.DataFrame:
    """A binary model whose score depends on x1 (strongly) and x2 only; ``noise`` does nothing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "noise": rng.normal(size=n),
                          "sex": rng.choice(["female", "male"], n, p=[0.3, 0.7])})
    frame["y_score"] = 1 / (1 + np.exp(-(2 * frame.x1 + frame.x2)))
    return frame


def explained(frame, **kwargs):
    options = {"features": FEATURES, "output": "y_score", "output_kind": "score", "sensitive": ["sex"],
               "min_group_rows": 50}
    return explain.explain_outputs(frame, **{**options, **kwargs})


def ranking(result) -> list[str]:
    return [item["feature"] for item in result["importances"]]


# --- The pure computation -----------------------------------------------------------------------------------

def test_the_features_the_score_depends_on_rank_first_and_noise_last():
    result = explained(synthetic())
    assert result["status"] == "done"
    assert ranking(result) == ["x1", "x2", "noise"]
    importance = {item["feature"]: item["importance"] for item in result["importances"]}
    assert importance["x1"] > 2 * importance["x2"] > 0 and abs(importance["noise"]) < 0.01
    assert result["fidelity"]["metric"] == "r2" and result["fidelity"]["value"] > 0.9
    assert not result["fidelity"]["low"] and result["caveat"] == ""


class LineThenTree(BaseEstimator):
    """The surrogate's definition, written again from scikit-learn's parts (no missing values in this test)."""

    def fit(self, x, y):
        self.line = LinearRegression().fit(x, y)
        self.tree = DecisionTreeRegressor(max_depth=explain.MAX_DEPTH, min_samples_leaf=explain.MIN_LEAF_ROWS,
                                          random_state=0).fit(x, y - self.line.predict(x))
        return self

    def predict(self, x):
        return self.line.predict(x) + self.tree.predict(x)


def test_fidelity_and_importances_match_scikit_learn_computed_independently():
    frame = synthetic(1000, seed=3)
    frame["y_score"] += 0.3 * np.sin(3 * frame.x2)  # something the line leaves to the tree
    result = explained(frame, sensitive=[])
    x, y = frame[FEATURES].to_numpy(dtype=np.float32), frame["y_score"].to_numpy()
    fit, held = train_test_split(np.arange(len(frame)), test_size=explain.HELD_OUT, random_state=0)
    surrogate = LineThenTree().fit(x[fit], y[fit])
    # The portal evaluates the line in float32, like the tree; scikit-learn here in float64.
    assert result["fidelity"]["value"] == pytest.approx(r2_score(y[held], surrogate.predict(x[held])), abs=1e-6)
    reference = permutation_importance(surrogate, x[held], y[held], scoring="r2", n_repeats=explain.N_REPEATS,
                                       random_state=0)
    importance = {item["feature"]: item["importance"] for item in result["importances"]}
    for name, expected in zip(FEATURES, reference.importances_mean, strict=True):
        assert importance[name] == pytest.approx(expected, abs=1e-6)  # a drop in R² on the held-out rows


def test_an_additive_score_over_many_features_is_reproduced_with_high_fidelity():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 20))
    weights = np.linspace(1, 0.05, 20)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(20)])
    frame["y_score"] = 1 / (1 + np.exp(-(x @ weights) / 2))  # a logistic regression's score
    result = explain.explain_outputs(frame, features=list(frame.columns[:20]), output="y_score",
                                     output_kind="score")
    assert result["fidelity"]["value"] > 0.9
    assert ranking(result)[:3] == ["f00", "f01", "f02"]


def test_a_random_score_gives_low_fidelity_and_the_caveat():
    frame = synthetic()
    frame["y_score"] = np.random.default_rng(9).random(len(frame))
    result = explained(frame)
    assert result["fidelity"]["value"] < explain.FIDELITY_MIN and result["fidelity"]["low"]
    assert result["caveat"] == "The surrogate explains the scores poorly; read importances with care."


def test_the_same_seed_gives_the_same_explanation_and_another_seed_another_sample():
    frame = synthetic(3000)
    first, again = explained(frame, seed=7, max_rows=1000), explained(frame, seed=7, max_rows=1000)
    other = explained(frame, seed=8, max_rows=1000)
    assert first == again
    assert first["rows"] == {"given": 3000, "sampled": 1000, "fitted": 750, "held_out": 250}
    assert first["fidelity"] != other["fidelity"]


def test_importances_are_computed_within_each_group_on_the_same_scale():
    frame = synthetic()
    # Among women the score follows x2 only: their importances must say so.
    women = frame.sex == "female"
    frame.loc[women, "y_score"] = 1 / (1 + np.exp(-3 * frame.loc[women, "x2"]))
    result = explained(frame)
    groups = result["groups"]["sex"]["groups"]
    assert set(groups) == {"female", "male"}
    assert groups["female"]["importances"]["x2"] > groups["female"]["importances"]["x1"]
    assert groups["male"]["importances"]["x1"] > groups["male"]["importances"]["x2"]
    assert groups["female"]["rows"] + groups["male"]["rows"] == result["rows"]["held_out"]


def test_groups_with_too_few_rows_are_skipped_and_listed():
    frame = synthetic()
    frame.loc[:9, "sex"] = "other"
    result = explained(frame, min_group_rows=20)
    sex = result["groups"]["sex"]
    assert "other" not in sex["groups"] and 0 < sex["skipped"]["other"] < 20 and sex["min_rows"] == 20


def test_categorical_features_and_missing_values_are_handled():
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame({"region": rng.choice(["north", "south", "east", None], n),
                          "income": rng.normal(50, 10, n), "noise": rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame["y_score"] = np.where(frame.region == "north", 0.8, 0.2) + np.nan_to_num(frame.income - 50) / 100
    result = explain.explain_outputs(frame, features=["region", "income", "noise"], output="y_score",
                                     output_kind="score")
    assert result["status"] == "done" and ranking(result) == ["region", "income", "noise"]
    assert result["fidelity"]["value"] > 0.8


def test_labels_are_explained_by_accuracy():
    frame = synthetic()
    frame["y_pred"] = np.where(frame.x1 > 0.5, "high", np.where(frame.x2 > 0, "mid", "low"))
    result = explained(frame, output="y_pred", output_kind="label")
    assert result["fidelity"]["metric"] == "accuracy" and result["fidelity"]["value"] > 0.95
    assert ranking(result)[-1] == "noise"
    assert "accuracy" in result["importance_unit"]


def test_codes_of_a_text_feature_do_not_depend_on_row_order_and_rare_values_share_one():
    values = pd.Series(["b", "a", "a", None, "c", "b", "a"])
    codes = explain.encode_features(pd.DataFrame({"v": values}), ["v"])[:, 0]
    assert list(codes[[1, 0, 4]]) == [0.0, 1.0, 2.0] and np.isnan(codes[3])
    many = pd.DataFrame({"v": [f"v{i}" for i in range(200)]})
    assert explain.encode_features(many, ["v"]).max() == explain.MAX_CATEGORIES - 1


def test_date_times_become_seconds_and_booleans_numbers_with_missing_values_kept_missing():
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:10Z", None]),
                          "flag": pd.array([True, False, None], dtype="boolean"), "x": [1.0, np.inf, 2.0]})
    encoded = explain.encode_features(frame, ["at", "flag", "x"])
    assert encoded[0].tolist() == [0.0, 1.0, 1.0]
    assert encoded[1, :2].tolist() == [10.0, 0.0] and np.isnan(encoded[1, 2])  # an infinity is missing
    assert np.isnan(encoded[2, 0]) and np.isnan(encoded[2, 1]) and encoded[2, 2] == 2.0


@pytest.mark.parametrize(("frame", "reason"), [
    (synthetic(100).assign(y_score=0.5), "the same on every row"),
    (synthetic(30), "at least 50"),
])
def test_nothing_to_explain_is_said_not_raised(frame, reason):
    result = explained(frame)
    assert result["status"] == "empty" and reason in result["reason"]


def test_no_features_gives_an_empty_result():
    result = explained(synthetic(100), features=[])
    assert result["status"] == "empty" and "no feature column" in result["reason"]


def test_a_missing_column_is_named():
    with pytest.raises(explain.ExplainError, match="'age'"):
        explained(synthetic(100), features=["x1", "age"])


def test_the_importance_shift_between_validation_and_production():
    validation = {"importances": [{"feature": "a", "rank": 1, "importance": 0.5},
                                  {"feature": "b", "rank": 2, "importance": 0.2},
                                  {"feature": "gone", "rank": 3, "importance": 0.1}]}
    production = {"importances": [{"feature": "b", "rank": 1, "importance": 0.6},
                                  {"feature": "a", "rank": 2, "importance": 0.3},
                                  {"feature": "new", "rank": 3, "importance": 0.05}]}
    rows = explain.importance_shift(validation, production)
    assert [row["feature"] for row in rows] == ["b", "a", "gone", "new"]
    b, a, gone, _ = rows
    assert b["change"] == pytest.approx(0.4) and b["rank_change"] == 1
    assert a["change"] == pytest.approx(-0.2) and a["rank_change"] == -1
    assert (a["validation_rank"], a["production_rank"]) == (1, 2)
    assert gone["production"] is None and gone["change"] is None and gone["rank_change"] is None


# --- Stored with the evaluation, shown on its page, in the API and in the review's evidence ------------------

@pytest.fixture
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


def csv_of(frame: pd.DataFrame) -> bytes:
    labelled = frame.assign(y_pred=(frame.y_score >= 0.5).astype(int), y_true=(frame.y_score >= 0.4).astype(int))
    buffer = io.StringIO()
    labelled.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def computed(actor, version, frame, *, kind="validation", capture) -> Evaluation:
    with capture(execute=True):
        evaluation, _ = services.evaluation_upload(actor=actor, version=version, data=csv_of(frame),
                                                   filename="eval.csv", kind=kind, sensitive_features=["sex"])
    evaluation.refresh_from_db()
    assert evaluation.status == "done", evaluation.error
    return evaluation


def test_the_computation_stores_the_explanation_and_production_its_shift_since_validation(
        _media, scientist, django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist])
    validation = computed(scientist, version, synthetic(600), capture=django_capture_on_commit_callbacks)
    drifted = synthetic(600, seed=1)
    drifted["y_score"] = 1 / (1 + np.exp(-(drifted.x1 + 2 * drifted.x2)))  # x2 now leads
    production = computed(scientist, version, drifted, kind="production", capture=django_capture_on_commit_callbacks)
    before, after = validation.metrics["explanations"], production.metrics["explanations"]
    assert ranking(before)[:2] == ["x1", "x2"] and ranking(after)[:2] == ["x2", "x1"]
    assert after["output"] == {"column": "y_score", "kind": "score"} and set(after["groups"]) == {"sex"}
    assert "shift" not in before
    shift = after["shift"]
    assert shift["validation_evaluation"] == validation.pk
    assert shift["features"] == explain.importance_shift(before, after)
    x2 = next(row for row in shift["features"] if row["feature"] == "x2")
    assert x2["rank_change"] == 1 and x2["change"] > 0


def test_a_production_evaluation_without_validation_says_so(_media, scientist, django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist])
    production = computed(scientist, version, synthetic(300), kind="production",
                          capture=django_capture_on_commit_callbacks)
    shift = production.metrics["explanations"]["shift"]
    assert shift["validation_evaluation"] is None and "no finished validation evaluation" in shift["reason"]


def test_a_validation_evaluation_without_an_explanation_is_named_and_not_compared(
        _media, scientist, django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist])
    older = make_evaluation(version, kind="validation")  # computed before explanations existed
    production = computed(scientist, version, synthetic(300), kind="production",
                          capture=django_capture_on_commit_callbacks)
    shift = production.metrics["explanations"]["shift"]
    assert shift["validation_evaluation"] == older.pk and "features" not in shift
    assert f"Validation evaluation #{older.pk} has no comparable explanation" in shift["reason"]


def test_the_page_shows_fidelity_the_ranked_table_groups_and_the_chart(
        _media, client_as, django_capture_on_commit_callbacks):
    client = client_as("data_scientist")
    version = assessed_version(team__members=[client.user])
    evaluation = computed(client.user, version, synthetic(600), capture=django_capture_on_commit_callbacks)
    page = client.get(evaluation.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200 and "What drives the outputs" in html
    fidelity = evaluation.metrics["explanations"]["fidelity"]["value"]
    assert f"R² {fidelity:.3f} on 150 held-out rows" in html
    table = html[html.index("Importance of each feature"):html.index("By sex")]
    assert table.index(">x1<") < table.index(">x2<") < table.index(">noise<")
    assert "male (" in html and "Largest gap" in html
    assert 'id="figure-importance"' in html and "<summary>Data table</summary>" in html
    assert "read importances with care" not in html


def test_an_attribute_whose_groups_are_all_too_small_names_them_instead_of_an_empty_table(
        _media, client_as, django_capture_on_commit_callbacks):
    client = client_as("data_scientist")
    version = assessed_version(team__members=[client.user])
    frame = synthetic(600)
    frame["sex"] = np.resize(["a", "b", "c", "d"], len(frame))  # about 37 held-out rows each, under 100
    evaluation = computed(client.user, version, frame, capture=django_capture_on_commit_callbacks)
    skipped = evaluation.metrics["explanations"]["groups"]["sex"]["skipped"]
    assert set(skipped) == {"a", "b", "c", "d"} and not evaluation.metrics["explanations"]["groups"]["sex"]["groups"]

    html = client.get(evaluation.get_absolute_url()).content.decode()
    section = html[html.index('id="explanations"'):html.index("</section>", html.index('id="explanations"'))]
    assert "<h3>By sex</h3>" in section and "<caption>By sex</caption>" not in section  # no table without rows
    listed = ", ".join(f"{group} ({rows:,} rows)" for group, rows in skipped.items())
    assert f"Every group has fewer than {explain.MIN_GROUP_ROWS} held-out rows, too few for its own importances: " \
           f"{listed}." in section
    assert html.count("What drives the outputs") == 1  # the section's heading; the chart has its own title
    assert "Feature importance on the surrogate" in html


def test_low_fidelity_shows_the_caveat_on_the_page(_media, client_as, django_capture_on_commit_callbacks):
    client = client_as("data_scientist")
    version = assessed_version(team__members=[client.user])
    frame = synthetic(600)
    frame["y_score"] = np.random.default_rng(5).random(len(frame)).round(6)
    evaluation = computed(client.user, version, frame, capture=django_capture_on_commit_callbacks)
    assert "The surrogate explains the scores poorly; read importances with care." in client.get(
        evaluation.get_absolute_url()).content.decode()


def test_an_evaluation_without_features_shows_the_empty_state(_media, client_as,
                                                              django_capture_on_commit_callbacks):
    client = client_as("data_scientist")
    version = assessed_version(team__members=[client.user])
    evaluation = computed(client.user, version, synthetic(200)[["y_score", "sex"]],
                          capture=django_capture_on_commit_callbacks)
    assert evaluation.metrics["explanations"]["status"] == "empty"
    page = client.get(evaluation.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "no feature column besides the model" in html and 'id="figure-importance"' not in html


def test_an_evaluation_computed_before_explanations_existed_says_so(client_as):
    evaluation = make_evaluation(ModelVersionFactory())
    html = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "computed before the portal explained outputs" in html


def test_the_api_returns_the_explanation_with_the_evaluation(_media, make_user, scientist,
                                                             django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist])
    evaluation = computed(scientist, version, synthetic(300), capture=django_capture_on_commit_callbacks)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user('executive'))}")
    body = api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    assert body["metrics"]["explanations"] == evaluation.metrics["explanations"]
    assert ranking(body["metrics"]["explanations"])[0] == "x1"
    documented = EvaluationSerializer().fields["metrics"].help_text  # what the OpenAPI schema describes
    assert '"explanations"' in documented and '"rank_change"' in documented


def test_the_review_offers_the_explanation_as_evidence_that_results_are_explainable(
        _media, client, scientist, make_user, django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist])
    evaluation = computed(scientist, version, synthetic(600), capture=django_capture_on_commit_callbacks)
    review = submitted_review(submitter=scientist, version=version)
    client.force_login(make_user("reviewer"))
    page = client.get(review.get_absolute_url())
    rows = {r["item"].key: r for g in page.context["checklist"] for r in g["rows"]}
    link = rows["explainable"]["links"][0]
    assert link.url == evaluation.get_absolute_url() + "#explanations"
    assert link.label == f"Surrogate explanation of evaluation #{evaluation.pk}"
    fidelity = evaluation.metrics["explanations"]["fidelity"]["value"]
    assert link.note == f"fidelity (R²) {fidelity:.2f}; top features: x1, x2, noise"


def test_a_file_read_in_batches_gets_the_explanation_of_its_whole_frame():
    # The worker never holds a large file whole: it keeps only the rows explain would sample from it.
    from apps.monitoring import batches, ingest

    frame = synthetic(3000, seed=4)
    frame["region"] = pd.Categorical(np.random.default_rng(4).choice(list("NSEW"), 3000))
    source = io.BytesIO(ingest.to_parquet_bytes(frame, row_group_rows=256))
    whole = explained(ingest.read_parquet_bytes(source.getvalue()), features=[*FEATURES, "region"], max_rows=700)

    positions = explain.sample_positions(batches.row_count(source), features=4, max_rows=700)
    sample = batches.rows_at(source, positions, columns=["y_score", *FEATURES, "region", "sex"])
    streamed = explained(sample, features=[*FEATURES, "region"], max_rows=700)
    assert len(sample) == 700 and whole["rows"]["given"] == 3000
    for result in (whole, streamed):
        result["rows"].pop("given")
    assert streamed == whole


# --- Computed after done: a follow-up task, a pending state, the sweep ------------------------------------------

def done_before_explained(actor, version, frame, *, kind="validation") -> Evaluation:
    """An evaluation computed by the service itself: the test's transaction never commits, so the explanation's
    task (queued on commit) does not run and the evaluation stays as a worker leaves it at ``done``."""
    evaluation, _ = services.evaluation_upload(actor=actor, version=version, data=csv_of(frame), filename="eval.csv",
                                               kind=kind, sensitive_features=["sex"])
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    return evaluation


def test_the_evaluation_is_done_before_its_explanation_which_its_task_then_stores(
        _media, scientist, monkeypatch, django_capture_on_commit_callbacks):
    from apps.core.models import AuditEvent
    from apps.monitoring import tasks

    version = assessed_version(team__members=[scientist])
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=csv_of(synthetic(600)),
                                               filename="eval.csv", sensitive_features=["sex"])
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    assert evaluation.status == "done" and evaluation.metrics["overall"]["roc_auc"] > 0.5
    assert evaluation.metrics["explanations"]["status"] == "pending"
    assert evaluation.metrics["explanations"]["computation"] == evaluation.started_at.isoformat()
    assert AuditEvent.objects.filter(action="evaluation.computed", object_id=str(evaluation.pk)).exists()

    sent = []
    monkeypatch.setattr(tasks.explain_evaluation, "apply_async", lambda args, **kwargs: sent.append(args))
    for callback in callbacks:
        callback()
    assert sent == [[evaluation.pk]]  # queued once the metrics are committed

    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    found = evaluation.metrics["explanations"]
    assert found["status"] == "done" and ranking(found)[0] == "x1"
    assert evaluation.metrics["overall"]["roc_auc"] > 0.5  # the rest of the metrics are kept
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False  # twice: nothing more to do
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"] == found


def test_the_page_the_api_and_the_review_say_a_pending_explanation_is_being_computed(
        _media, client_as, make_user):
    client = client_as("data_scientist")
    version = assessed_version(team__members=[client.user])
    evaluation = done_before_explained(client.user, version, synthetic(300))
    html = client.get(evaluation.get_absolute_url()).content.decode()
    section = html[html.index('id="explanations"'):]
    assert "The explanation of the outputs is being computed" in section and 'id="figure-importance"' not in html
    assert "Reload the page" not in section  # the panel follows it by itself (a no-script link aside)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user('executive'))}")
    body = api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    assert body["status"] == "done" and body["metrics"]["explanations"]["status"] == "pending"

    review = submitted_review(submitter=client.user, version=version)
    client.force_login(make_user("reviewer"))
    page = client.get(review.get_absolute_url())
    rows = {r["item"].key: r for g in page.context["checklist"] for r in g["rows"]}
    link = rows["explainable"]["links"][0]
    assert link.label == f"Explanation of the outputs of evaluation #{evaluation.pk}: being computed"
    assert "being computed" in link.note


def test_a_failed_explanation_is_stored_with_its_reason_and_shown(_media, client_as, make_user, monkeypatch):
    client = client_as("data_scientist")
    version = assessed_version(team__members=[client.user])
    evaluation = done_before_explained(client.user, version, synthetic(300))

    def broken(*args):
        raise ValueError("the surrogate could not be fitted")

    monkeypatch.setattr(services, "explanations_of", broken)
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    reason = "The explanation could not be computed: the surrogate could not be fitted"
    assert evaluation.status == "done" and evaluation.error == ""
    assert evaluation.metrics["explanations"] == {"status": "failed", "reason": reason}
    assert reason in client.get(evaluation.get_absolute_url()).content.decode()
    review = submitted_review(submitter=client.user, version=version)
    client.force_login(make_user("reviewer"))
    rows = {r["item"].key: r for g in client.get(review.get_absolute_url()).context["checklist"] for r in g["rows"]}
    link = rows["explainable"]["links"][0]
    assert link.label == f"No explanation of the outputs of evaluation #{evaluation.pk}" and link.note == reason


def test_a_failed_explanation_is_audited_as_the_portals_with_its_reason(_media, scientist, monkeypatch):
    from apps.core.activity import describe
    from apps.core.models import AuditEvent

    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))

    def broken(*args):
        raise ValueError("x" * 3000)

    monkeypatch.setattr(services, "explanations_of", broken)
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    stored = evaluation.metrics["explanations"]["reason"]
    event = AuditEvent.objects.get(action="evaluation.explanation_failed", object_id=str(evaluation.pk))
    assert event.actor is None and event.changes == {"explanation": ["pending", "failed"]}
    assert event.reason == stored and len(stored) == 2000  # truncated like the stored reason
    assert event.reason.startswith("The explanation could not be computed: xxx")
    assert describe(event).sentence.startswith("The portal could not explain the outputs of the ")
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False  # failed already: no second event
    assert AuditEvent.objects.filter(action="evaluation.explanation_failed").count() == 1


def test_a_failed_explanation_is_stored_only_with_its_audit_event(_media, scientist, monkeypatch):
    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))

    def broken(*args):
        raise ValueError("the surrogate could not be fitted")

    def chain_unavailable(**kwargs):
        raise RuntimeError("the audit chain is unavailable")

    monkeypatch.setattr(services, "explanations_of", broken)
    monkeypatch.setattr(services, "audit_record", chain_unavailable)
    with pytest.raises(RuntimeError):
        services.evaluation_explain(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "pending"  # one transaction: neither is written


def test_a_transient_database_error_is_retried_not_recorded_as_a_failure_nor_counted_as_an_attempt(
        _media, scientist, monkeypatch):
    from django.db import OperationalError

    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))

    def database_down(*args):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "explanations_of", database_down)
    with pytest.raises(OperationalError):
        services.evaluation_explain(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "pending"
    assert evaluation.explanation_attempts == 0  # the limit bounds worker deaths, not database hiccups


def test_a_recomputation_in_between_drops_the_older_result_and_its_own_task_explains_it(
        _media, scientist, monkeypatch):
    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300),
                                       kind="production")
    first = evaluation.metrics["explanations"]
    real = services.explanations_of

    def recomputed_meanwhile(evaluation, source):
        # What late labels do (evaluation_labels_add): queue the evaluation again; a worker computes it.
        Evaluation.objects.filter(pk=evaluation.pk).update(status="queued", started_at=None, finished_at=None)
        assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
        return real(evaluation, source)

    monkeypatch.setattr(services, "explanations_of", recomputed_meanwhile)
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False
    evaluation.refresh_from_db()
    second = evaluation.metrics["explanations"]
    assert second["status"] == "pending" and second["computation"] != first["computation"]

    monkeypatch.setattr(services, "explanations_of", real)
    Evaluation.objects.filter(pk=evaluation.pk).update(status="queued")  # more labels: not done, nothing to explain
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False
    Evaluation.objects.filter(pk=evaluation.pk).update(status="done")
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True  # the recomputation's own task
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "done"
    assert "no finished validation evaluation" in evaluation.metrics["explanations"]["shift"]["reason"]


def test_the_sweep_sends_an_explanation_pending_for_minutes_again_once_per_interval(_media, scientist, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from apps.monitoring import tasks

    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))
    sent = []
    monkeypatch.setattr(tasks.explain_evaluation, "apply_async", lambda args, **kwargs: sent.append(args))
    assert services.requeue_stale() == 0 and sent == []  # just sent: its message may well be on its way

    lost_at = timezone.now() - services.EXPLANATION_RESEND_AFTER - timedelta(seconds=1)
    marker = {**evaluation.metrics["explanations"], "sent_at": lost_at.isoformat()}
    Evaluation.objects.filter(pk=evaluation.pk).update(finished_at=lost_at,
                                                       metrics={**evaluation.metrics, "explanations": marker})
    assert services.requeue_stale() == 1 and sent == [[evaluation.pk]]
    assert services.requeue_stale() == 0 and len(sent) == 1  # sent again once per interval, not once per sweep
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["sent_at"] > lost_at.isoformat()

    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True  # the message that was sent again
    Evaluation.objects.filter(pk=evaluation.pk).update(finished_at=lost_at)
    assert services.requeue_stale() == 0  # explained: nothing left to send


def test_a_production_explanation_says_when_the_validation_one_was_still_being_computed(_media, scientist):
    version = assessed_version(team__members=[scientist])
    validation = done_before_explained(scientist, version, synthetic(300))
    production = done_before_explained(scientist, version, synthetic(300, seed=1), kind="production")
    assert services.evaluation_explain(evaluation_id=production.pk) is True
    production.refresh_from_db()
    shift = production.metrics["explanations"]["shift"]
    assert shift == {"validation_evaluation": validation.pk,
                     "reason": f"The explanation of validation evaluation #{validation.pk} was still being computed."}


# --- Capped: an explanation that kills its worker is given up, and can be asked for again -----------------------

class WorkerKilled(BaseException):
    """The out-of-memory killer from inside the task: the body never returns and stores nothing."""


def killed(*args):
    raise WorkerKilled


def explanation_aged(evaluation: Evaluation, *, minutes: int = 6) -> None:
    """Move the pending explanation's clocks back, as if its worker had died ``minutes`` ago."""
    from datetime import timedelta

    from django.utils import timezone

    past = (timezone.now() - timedelta(minutes=minutes)).isoformat()
    evaluation.refresh_from_db()
    marker = {key: past if key in ("sent_at", "started_at") else value
              for key, value in evaluation.metrics["explanations"].items()}
    Evaluation.objects.filter(pk=evaluation.pk).update(finished_at=timezone.now() - timedelta(minutes=minutes),
                                                       metrics={**evaluation.metrics, "explanations": marker})


def test_an_explanation_that_kills_its_worker_is_given_up_after_the_maximum_attempts(
        _media, scientist, monkeypatch, settings):
    from apps.core.models import AuditEvent
    from apps.monitoring import tasks

    settings.PORTAL_TASK_MAX_ATTEMPTS = 3
    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))
    sent = []
    monkeypatch.setattr(tasks.explain_evaluation, "apply_async", lambda args, **kwargs: sent.append(args))
    monkeypatch.setattr(services, "explanations_of", killed)

    for attempt in (1, 2, 3):
        with pytest.raises(WorkerKilled):
            services.evaluation_explain(evaluation_id=evaluation.pk)
        evaluation.refresh_from_db()
        assert evaluation.explanation_attempts == attempt
        assert evaluation.metrics["explanations"]["status"] == "pending"
        assert services.requeue_stale() == 0  # just started: its worker may still be computing
        explanation_aged(evaluation)
        assert services.requeue_stale() == (1 if attempt < 3 else 0)  # the sweep, once its worker has died

    assert sent == [[evaluation.pk], [evaluation.pk]]
    evaluation.refresh_from_db()
    found = evaluation.metrics["explanations"]
    assert evaluation.status == "done" and found["status"] == "failed"
    assert found["reason"].startswith("Gave up after 3 attempts: the worker stopped while explaining each time "
                                      "(killed, or out of memory; the last one started at ")
    event = AuditEvent.objects.get(action="evaluation.explanation_given_up", object_id=str(evaluation.pk))
    assert event.actor is None and event.reason == found["reason"]
    explanation_aged(evaluation, minutes=60)
    assert services.requeue_stale() == 0 and len(sent) == 2  # not sent forever


def test_a_message_that_arrives_after_the_last_attempt_gives_up_instead_of_computing(_media, scientist, monkeypatch,
                                                                                     settings):
    from apps.core.models import AuditEvent

    settings.PORTAL_TASK_MAX_ATTEMPTS = 1
    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))
    monkeypatch.setattr(services, "explanations_of", killed)
    with pytest.raises(WorkerKilled):
        services.evaluation_explain(evaluation_id=evaluation.pk)
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False  # a duplicate, its worker still busy
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "pending" and evaluation.explanation_attempts == 1

    explanation_aged(evaluation)
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False  # redelivered after the worker died
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["reason"].startswith("Gave up after 1 attempt: ")
    assert services.evaluation_explain(evaluation_id=evaluation.pk) is False  # and again: given up once
    actions = list(AuditEvent.objects.filter(object_id=str(evaluation.pk), action__startswith="evaluation.explanation")
                   .values_list("action", flat=True))
    assert actions == ["evaluation.explanation_given_up"]  # a give-up is not also audited as a failure


def given_up(actor, version) -> Evaluation:
    evaluation = done_before_explained(actor, version, synthetic(300))
    marker = {**evaluation.metrics["explanations"], "started_at": evaluation.finished_at.isoformat()}
    Evaluation.objects.filter(pk=evaluation.pk).update(
        explanation_attempts=3, metrics={**evaluation.metrics, "explanations": marker})
    explanation_aged(evaluation)
    assert services.requeue_stale() == 0
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "failed"
    return evaluation


def test_the_page_says_why_it_gave_up_and_the_models_team_may_ask_again(_media, client_as, make_user):
    from django.urls import reverse

    client = client_as("data_scientist")
    evaluation = given_up(client.user, assessed_version(team__members=[client.user]))
    retry = reverse("monitoring:evaluation-explanation-retry", kwargs={"pk": evaluation.pk})
    html = client.get(evaluation.get_absolute_url()).content.decode()
    section = html[html.index('id="explanations"'):]
    assert "Gave up after 3 attempts: the worker stopped while explaining" in section
    assert f'action="{retry}"' in section and "hx-trigger" not in section[:section.index("</section>")]

    client.force_login(make_user("executive"))
    assert f'action="{retry}"' not in client.get(evaluation.get_absolute_url()).content.decode()
    assert client.post(retry).status_code == 403


def test_asking_again_makes_it_pending_with_its_attempts_reset_and_the_page_follows_it(
        _media, client_as, monkeypatch, django_capture_on_commit_callbacks):
    from django.urls import reverse

    from apps.core.models import AuditEvent
    from apps.monitoring import tasks

    client = client_as("data_scientist")
    evaluation = given_up(client.user, assessed_version(team__members=[client.user]))
    sent = []
    monkeypatch.setattr(tasks.explain_evaluation, "apply_async", lambda args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("monitoring:evaluation-explanation-retry", kwargs={"pk": evaluation.pk}))
    assert response.status_code == 302 and response["Location"].endswith("#explanations")
    assert sent == [[evaluation.pk]]
    evaluation.refresh_from_db()
    assert evaluation.explanation_attempts == 0 and evaluation.metrics["explanations"]["status"] == "pending"
    event = AuditEvent.objects.get(action="evaluation.explanation_requested", object_id=str(evaluation.pk))
    assert event.actor == client.user and event.changes["explanation_attempts"] == [3, 0]

    html = client.get(evaluation.get_absolute_url()).content.decode()
    partial = reverse("monitoring:evaluation-explanation", kwargs={"pk": evaluation.pk})
    assert f'hx-get="{partial}" hx-trigger="every 2s"' in html

    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True  # the workers have memory again
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "done" and evaluation.explanation_attempts == 1
    refused = client.post(reverse("monitoring:evaluation-explanation-retry", kwargs={"pk": evaluation.pk}))
    assert refused.status_code == 409
    assert ("Only a failed explanation can be asked for again; this one is stored (someone may have asked already)."
            in refused.content.decode())


def test_the_api_says_how_many_starts_the_explanation_took(_media, scientist, make_user):
    evaluation = given_up(scientist, assessed_version(team__members=[scientist]))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user('executive'))}")
    assert api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()["explanation_attempts"] == 3
    assert api.get("/api/v1/evaluations/").json()["results"][0]["explanation_attempts"] == 3
    documented = api_schema()["components"]["schemas"]["Evaluation"]["properties"]["explanation_attempts"]
    assert documented["readOnly"] is True and "PORTAL_TASK_MAX_ATTEMPTS" in documented["description"]


EXPLAIN = "/api/v1/evaluations/{id}/explain/"


def api_as(person) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(person)}")
    return api


def test_the_api_asks_again_like_the_page_and_answers_the_evaluation_it_follows(
        _media, scientist, monkeypatch, django_capture_on_commit_callbacks):
    from apps.core.models import AuditEvent
    from apps.monitoring import tasks

    evaluation = given_up(scientist, assessed_version(team__members=[scientist]))
    sent = []
    monkeypatch.setattr(tasks.explain_evaluation, "apply_async", lambda args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(scientist).post(f"/api/v1/evaluations/{evaluation.pk}/explain/")

    assert response.status_code == 202, response.content
    assert_documented(response, "post", EXPLAIN)
    body = response.json()
    assert body["id"] == evaluation.pk and body["status"] == "done" and body["explanation_attempts"] == 0
    assert body["metrics"]["explanations"]["status"] == "pending"
    assert sent == [[evaluation.pk]]
    event = AuditEvent.objects.get(action="evaluation.explanation_requested", object_id=str(evaluation.pk))
    assert event.actor == scientist and event.changes["explanation_attempts"] == [3, 0]

    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True
    body = api_as(scientist).get(f"/api/v1/evaluations/{evaluation.pk}/").json()
    assert body["metrics"]["explanations"]["status"] == "done" and body["explanation_attempts"] == 1


@pytest.mark.parametrize("state", ["pending", "done"])
def test_the_api_refuses_to_ask_again_for_an_explanation_that_did_not_fail(_media, scientist, state):
    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))
    if state == "done":
        assert services.evaluation_explain(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    before = evaluation.metrics["explanations"]

    response = api_as(scientist).post(f"/api/v1/evaluations/{evaluation.pk}/explain/")

    assert response.status_code == 409
    assert_documented(response, "post", EXPLAIN)
    shown = {"pending": "being computed", "done": "stored"}[state]
    assert response.json()["detail"].startswith(
        f"Only a failed explanation can be asked for again; this one is {shown} (someone may have asked already).")
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"] == before


def test_the_api_lets_only_the_models_team_ask_again_and_answers_404_for_no_such_evaluation(
        _media, scientist, make_user):
    from apps.core.models import AuditEvent

    evaluation = given_up(scientist, assessed_version(team__members=[scientist]))
    url = f"/api/v1/evaluations/{evaluation.pk}/explain/"

    refused = api_as(make_user("executive")).post(url)
    assert refused.status_code == 403 and refused.json()["detail"]
    other_team = api_as(make_user("data_scientist")).post(url)
    assert other_team.status_code == 403 and "ask" in other_team.json()["detail"]
    assert_documented(other_team, "post", EXPLAIN)
    evaluation.refresh_from_db()
    assert evaluation.metrics["explanations"]["status"] == "failed" and evaluation.explanation_attempts == 3
    assert not AuditEvent.objects.filter(action="evaluation.explanation_requested").exists()

    missing = api_as(scientist).post(f"/api/v1/evaluations/{evaluation.pk + 1000}/explain/")
    assert missing.status_code == 404
    assert_documented(missing, "post", EXPLAIN)


def test_the_api_schema_documents_asking_again():
    operation = api_schema()["paths"][EXPLAIN]["post"]
    assert {"202", "403", "404", "409"} <= set(operation["responses"]) and "failed" in operation["description"]


def test_the_polled_panel_swaps_in_a_failure_and_reloads_the_page_for_a_stored_explanation(
        _media, client_as, make_user):
    from django.urls import reverse

    client = client_as("reviewer")
    scientist = make_user("data_scientist")
    evaluation = done_before_explained(scientist, assessed_version(team__members=[scientist]), synthetic(300))
    partial = reverse("monitoring:evaluation-explanation", kwargs={"pk": evaluation.pk})
    polled = client.get(partial, HTTP_HX_REQUEST="true")
    body = polled.content.decode()
    assert polled.status_code == 200 and "HX-Refresh" not in polled
    assert f'hx-get="{partial}" hx-trigger="every 2s"' in body and "reload the page</a>" in body

    assert services.evaluation_explain(evaluation_id=evaluation.pk) is True
    stored = client.get(partial, HTTP_HX_REQUEST="true")
    assert stored["HX-Refresh"] == "true" and "hx-trigger" not in stored.content.decode()

    Evaluation.objects.filter(pk=evaluation.pk).update(
        metrics={**evaluation.metrics, "explanations": {"status": "failed", "reason": "Gave up after 3 attempts."}})
    failed = client.get(partial, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in failed and "hx-trigger" not in failed.content.decode()
    assert "Gave up after 3 attempts." in failed.content.decode()


@pytest.mark.parametrize(("values", "above", "below"), [((0.4, 0.1), False, False), ((1.7, 0.2), True, False),
                                                         ((0.5, -0.01), False, True), ((1.2, -0.02), True, True)])
def test_the_importance_table_says_how_to_read_values_outside_zero_to_one(values, above, below):
    from apps.monitoring import selectors

    found = {"status": "done", "fidelity": {"metric": "r2", "value": 0.9, "low": False},
             "rows": {"held_out": 100, "sampled": 400, "given": 400}, "importance_unit": "drop in R²",
             "importances": [{"feature": f"x{n}", "rank": n, "importance": value, "std": 0.01}
                             for n, value in enumerate(values, start=1)]}
    note = selectors.explanation_report({"explanations": found}).importances.note
    assert ("R² falls below 0" in note) is above and ("does not drive the outputs" in note) is below
