"""The monitoring API's read side: lists stay small whatever the evaluations hold."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.factories import api_key_for
from tests.inventory.factories import ModelVersionFactory
from tests.monitoring.test_views import make_evaluation, make_window

BIG_METRICS = {"overall": {"accuracy": 0.9}, "fairness": {},
               "groups": {"g": {f"g{i}": {"count": 1, "accuracy": 1.0} for i in range(1000)}}, "drift": {}}


@pytest.fixture
def api(make_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user('executive'))}")
    return client


def test_it_lists_evaluations_without_loading_or_sending_their_metrics(api):
    evaluation = make_evaluation(ModelVersionFactory(), metrics=BIG_METRICS)

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/evaluations/")

    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["id"] == evaluation.pk and item["status"] == "done" and "metrics" not in item
    selects = [query["sql"] for query in queries if "monitoring_evaluation" in query["sql"]]
    assert selects and not [sql for sql in selects if '"monitoring_evaluation"."metrics"' in sql]


def test_it_answers_one_evaluation_with_its_metrics(api):
    evaluation = make_evaluation(ModelVersionFactory(), metrics=BIG_METRICS)

    response = api.get(f"/api/v1/evaluations/{evaluation.pk}/")

    assert response.status_code == 200
    assert response.json()["metrics"] == BIG_METRICS


def test_it_lists_metric_windows_with_their_overall_metrics_only(api):
    window = make_window(ModelVersionFactory(), 1, metrics=BIG_METRICS)

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/metric-windows/")

    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["id"] == window.pk and item["overall"] == {"accuracy": 0.9} and "metrics" not in item
    selects = [query["sql"] for query in queries if "monitoring_metricwindow" in query["sql"]]
    # The whole document is never selected (only the database's extraction of its "overall" key is).
    whole_column = re.compile(r'"monitoring_metricwindow"\."metrics"(\s*,\s*"|\s+FROM)')
    assert selects and not [sql for sql in selects if whole_column.search(sql)]


def test_it_answers_one_metric_window_with_all_its_metrics(api):
    window = make_window(ModelVersionFactory(), 1, metrics=BIG_METRICS)

    response = api.get(f"/api/v1/metric-windows/{window.pk}/")

    assert response.status_code == 200
    assert response.json()["metrics"] == BIG_METRICS


@pytest.mark.parametrize("count", [2, 8])
def test_a_list_of_evaluations_never_handed_to_the_broker_costs_the_same_queries(api, count,
                                                                                 django_assert_max_num_queries):
    # Each one's status note needs its latest labels' arrival: it comes with the list, not one query apiece.
    from tests.monitoring.test_views import _queued_minutes_ago

    for _ in range(2):
        _queued_minutes_ago(10, enqueued_at=None)
    with CaptureQueriesContext(connection) as baseline:
        assert len(api.get("/api/v1/evaluations/").json()["results"]) == 2
    for _ in range(count - 2):
        _queued_minutes_ago(10, enqueued_at=None)

    with django_assert_max_num_queries(len(baseline.captured_queries)):
        listed = api.get("/api/v1/evaluations/").json()["results"]

    assert len(listed) == count
    assert all("could not be handed to the task queue yet" in item["status_note"] for item in listed)


def test_the_listed_status_note_counts_from_the_latest_labels_arrival(api, settings):
    from datetime import UTC, datetime, timedelta

    from apps.monitoring.models import LabelBatch
    from tests.monitoring.test_views import _queued_minutes_ago

    settings.PORTAL_QUEUED_WARNING_SECONDS = 60
    evaluation = _queued_minutes_ago(3 * 24 * 60, enqueued_at=None)
    for minutes in (9, 4):
        batch = LabelBatch.objects.create(evaluation=evaluation, filename="labels.csv", file_format="csv",
                                          sha256="0" * 64, size_bytes=10, raw_path="r", parquet_path="p", row_count=1)
        LabelBatch.objects.filter(pk=batch.pk).update(created_at=datetime.now(UTC) - timedelta(minutes=minutes,
                                                                                              seconds=5))

    [listed] = api.get("/api/v1/evaluations/").json()["results"]

    assert listed["status_note"].startswith("Queued 4 minutes ago; it could not be handed to the task queue yet")
