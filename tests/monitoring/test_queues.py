"""Heavy computations have their own queue, so workers added on other machines add computing throughput."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from apps.inventory.models import Stage
from apps.monitoring import services
from apps.monitoring.models import Evaluation, MetricWindow
from apps.monitoring.tasks import compute_due_windows
from mlops_portal.celery import app
from tests.celery_helpers import wait_for, worker
from tests.monitoring.test_services import evaluation_csv, upload
from tests.reviews.helpers import assessed_version

NOW = datetime.now(UTC)  # the worker test runs beat's task, which computes windows ending today


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_the_monitoring_computations_go_to_the_heavy_queue_and_the_rest_stays_light():
    assert queue_of("monitoring.compute_evaluation") == settings.PORTAL_HEAVY_QUEUE == "heavy"
    assert queue_of("monitoring.compute_version_windows") == "heavy"
    assert queue_of("monitoring.explain_evaluation") == "heavy"  # follows done, but as heavy as the metrics
    assert queue_of("monitoring.assemble_upload") == queue_of("monitoring.follow_upload") == "heavy"  # the checks
    for light in ("monitoring.compute_due_windows", "monitoring.requeue_stale", "core.verify_audit_chain",
                  "notifications.deliver_due_webhooks"):
        assert queue_of(light) == "celery", light


def test_a_worker_started_without_queues_consumes_both():
    # Celery's worker consumes every queue of task_queues unless -Q says otherwise: `make run` needs no flag.
    assert set(app.amqp.queues) == {"celery", "heavy"}


def production_version_with_results(scientist, capture, *, seed=0):
    version = assessed_version(team__members=[scientist])  # low tier: monthly cadence
    version.stage = Stage.PRODUCTION
    version.save(update_fields=["stage"])
    with capture(execute=True):
        upload(scientist, version, evaluation_csv(seed=seed, start=NOW - timedelta(days=20))[0], kind="production")
    return version


@pytest.mark.django_db
def test_the_nightly_task_queues_one_task_per_production_version_with_the_same_windows_as_in_one_process(
        settings, tmp_path, make_user, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    scientist = make_user("data_scientist")
    versions = [production_version_with_results(scientist, django_capture_on_commit_callbacks, seed=seed)
                for seed in (1, 2)]
    assert services.windows_due(now=NOW) == 2
    sequential = {(w.version_id, w.window_start, w.row_count, w.metrics["overall"]["accuracy"])
                  for w in MetricWindow.objects.all()}
    MetricWindow.objects.all().delete()

    assert services.windows_fan_out(now=NOW) == 2  # tasks run in-process here (eager)
    fanned = {(w.version_id, w.window_start, w.row_count, w.metrics["overall"]["accuracy"])
              for w in MetricWindow.objects.all()}
    assert fanned == sequential and {v for v, *_ in fanned} == {v.pk for v in versions}


@pytest.mark.django_db
def test_a_version_that_left_production_before_its_task_ran_is_skipped(
        settings, tmp_path, make_user, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    version = production_version_with_results(make_user("data_scientist"), django_capture_on_commit_callbacks)
    version.stage = Stage.STAGING
    version.save(update_fields=["stage"])
    assert services.version_windows_task(version_id=version.pk, now=NOW) == 0
    assert not MetricWindow.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_consuming_only_the_heavy_queue_computes_evaluations_and_windows(
        settings, tmp_path, make_user, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    scientist = make_user("data_scientist")
    with worker("heavy-only", env={"PORTAL_MEDIA_ROOT": str(tmp_path)}, queues="heavy") as (_, log):
        version = production_version_with_results(scientist, django_capture_on_commit_callbacks)
        wait_for(lambda: Evaluation.objects.filter(version=version, status="done").exists(),
                 timeout=90, what="the heavy worker to compute the evaluation", log_path=log)
        # What beat's nightly task does, published to the real broker: the heavy worker computes the windows.
        # .result, not .get(): get() refuses once an earlier test ran a task in this process (seen on PostgreSQL).
        assert compute_due_windows.apply().result == 1
        window = wait_for(lambda: MetricWindow.objects.filter(version=version).first(),
                          timeout=90, what="the heavy worker to compute the version's windows", log_path=log)
    assert window.row_count == 400 and window.cadence == "monthly"
