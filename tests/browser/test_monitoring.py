"""A data scientist uploads an evaluation through the form in a real browser and reads its metrics."""

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from apps.core.roles import Role
from tests.browser.test_dashboard import _watch_console
from tests.browser.test_smoke import log_in
from tests.factories import UserFactory
from tests.inventory.factories import ModelVersionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _evaluation_csv(n=400) -> tuple[bytes, pd.DataFrame]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    score = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1).round(6)
    frame = pd.DataFrame({"y_true": y, "y_pred": (score >= 0.5).astype(int), "y_score": score,
                          "sex": rng.choice(["female", "male"], n), "income": rng.normal(50, 10, n).round(2)})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode(), frame


def test_a_data_scientist_uploads_a_csv_and_sees_its_metrics(page, live_server, screenshot, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="2.0.0")
    content, frame = _evaluation_csv()
    errors = _watch_console(page)
    log_in(page, live_server, "sam")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/monitoring/upload/?version={version.pk}")
    page.get_by_label("File").set_input_files(files=[{"name": "eval.csv", "mimeType": "text/csv", "buffer": content}])
    assert "eval.csv" in page.locator("[data-dropzone-name]").inner_text()
    page.get_by_label("Sensitive features").fill("sex")
    page.get_by_role("button", name="Preview columns").click()
    preview = page.locator("#upload-preview .preview-table")
    preview.wait_for()
    assert "sensitive feature" in preview.inner_text() and "feature (compared for drift)" in preview.inner_text()
    assert page.url.endswith(f"/monitoring/upload/?version={version.pk}")  # htmx swapped the preview in place

    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url(lambda url: "/monitoring/evaluations/" in url)
    assert page.locator("#evaluation-status").inner_text().startswith("Status: Done")
    overall = page.get_by_role("region", name="Overall metrics")
    assert f"{accuracy_score(frame.y_true, frame.y_pred):.4f}" in overall.inner_text()
    page.locator("[data-figure-id=figure-groups-0] .main-svg").first.wait_for()
    assert "female" in page.get_by_role("region", name="By group").inner_text()
    screenshot(page, "monitoring-evaluation")
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


def test_a_file_over_the_part_size_goes_in_parts_with_progress(page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_UPLOAD_PART_BYTES = 1024  # the 16 KB file goes in parts
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="2.0.0")
    content, frame = _evaluation_csv()
    errors = _watch_console(page)
    log_in(page, live_server, "sam")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/monitoring/upload/?version={version.pk}")
    page.get_by_label("File").set_input_files(files=[{"name": "eval.csv", "mimeType": "text/csv", "buffer": content}])
    page.get_by_label("Sensitive features").fill("sex")
    page.get_by_role("button", name="Upload", exact=True).click()

    page.wait_for_url(lambda url: "/monitoring/evaluations/" in url)
    from apps.monitoring.models import UploadSession

    session = UploadSession.objects.get()
    assert session.state == "complete" and session.part_count == -(-len(content) // 1024) > 1
    assert page.locator("#evaluation-status").inner_text().startswith("Status: Done")
    assert f"{accuracy_score(frame.y_true, frame.y_pred):.4f}" in page.get_by_role(
        "region", name="Overall metrics").inner_text()
    assert errors == [], f"browser console errors (CSP or JS): {errors}"


def test_a_production_file_in_parts_keeps_the_prediction_id_column_named_in_the_form(
        page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_UPLOAD_PART_BYTES = 1024
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="2.0.0")
    _, frame = _evaluation_csv()
    frame = frame.drop(columns="y_true").assign(request_id=[f"r{i}" for i in range(len(frame))])
    log_in(page, live_server, "sam")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/monitoring/upload/?version={version.pk}")
    page.get_by_label("Kind").select_option("production")
    page.get_by_label("File").set_input_files(files=[{"name": "preds.csv", "mimeType": "text/csv",
                                                       "buffer": frame.to_csv(index=False).encode()}])
    page.get_by_label("Prediction id column").fill("request_id")
    page.get_by_role("button", name="Upload", exact=True).click()

    page.wait_for_url(lambda url: "/monitoring/evaluations/" in url)
    from apps.monitoring.models import Evaluation, UploadSession

    assert UploadSession.objects.get().part_count > 1
    evaluation = Evaluation.objects.get()
    assert evaluation.columns["prediction_id"] == "request_id" and "request_id" not in evaluation.columns["features"]


def _upload_page(page, live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_UPLOAD_PART_BYTES = 1024
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="2.0.0")
    log_in(page, live_server, "sam")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/monitoring/upload/?version={version.pk}")
    page.evaluate("document.querySelector('form[data-parts-threshold]')"
                  ".setAttribute('data-parts-retry-seconds', '0.1,0.1')")


def _fail_part(page, number: int, times: int) -> list:
    """Answer 500 to the first ``times`` sends of part ``number``; the sends are counted in the returned list."""
    sends = []

    def handle(route):
        sends.append(route.request.method)
        if len(sends) <= times:
            route.fulfill(status=500, content_type="application/json", body='{"detail": "the disk hiccuped"}')
        else:
            route.continue_()

    page.route(f"**/api/v1/uploads/*/parts/{number}/", handle)
    return sends


def _submit(page, content: bytes) -> None:
    page.get_by_label("File").set_input_files(files=[{"name": "eval.csv", "mimeType": "text/csv", "buffer": content}])
    page.get_by_role("button", name="Upload", exact=True).click()


def test_a_part_that_fails_on_the_way_is_sent_again(page, live_server, settings, tmp_path):
    from apps.monitoring.models import UploadSession

    _upload_page(page, live_server, settings, tmp_path)
    content, frame = _evaluation_csv()
    sends = _fail_part(page, 2, times=2)
    _submit(page, content)

    page.wait_for_url(lambda url: "/monitoring/evaluations/" in url)
    assert sends == ["PUT", "PUT", "PUT"]
    assert UploadSession.objects.get().state == "complete"
    assert f"{accuracy_score(frame.y_true, frame.y_pred):.4f}" in page.get_by_role(
        "region", name="Overall metrics").inner_text()


def test_a_part_that_keeps_failing_cancels_the_upload_and_says_so(page, live_server, settings, tmp_path):
    from apps.monitoring.models import UploadSession

    _upload_page(page, live_server, settings, tmp_path)
    content, _ = _evaluation_csv()
    sends = _fail_part(page, 2, times=99)
    _submit(page, content)

    status = page.locator("[data-parts-status]")
    status.filter(has_text="cancelled").wait_for()
    assert "Part 2 could not be sent (3 attempts): the disk hiccuped" in status.inner_text()
    assert len(sends) == 3
    assert UploadSession.objects.get().state == "aborted"


def test_a_refused_file_in_parts_lists_its_problems_once(page, live_server, settings, tmp_path):
    _upload_page(page, live_server, settings, tmp_path)
    _, frame = _evaluation_csv()
    frame.loc[300, "y_score"] = 1.7
    _submit(page, frame.to_csv(index=False).encode())

    problems = page.locator("[data-parts-problems] li")
    problems.first.wait_for()
    status = page.locator("[data-parts-status]").inner_text()
    assert status == "The file was rejected and nothing was stored:"
    assert "column 'y_score', rows 302: value 1.7 is outside [0, 1]" in problems.first.inner_text()
    assert "1.7" not in status


def test_late_labels_over_the_part_size_go_in_parts_from_the_evaluation_page(page, live_server, settings, tmp_path):
    """The Labels form sends a file over the part size as an upload in parts with purpose labels (any number of
    labels, checked by a worker in pieces); a refused one lists its problems on the page and stores nothing."""
    from apps.monitoring import services
    from apps.monitoring.models import LabelBatch, UploadSession

    settings.MEDIA_ROOT = tmp_path
    sam = UserFactory(username="sam", roles=[Role.DATA_SCIENTIST])
    version = ModelVersionFactory(model__name="Credit scoring", model__team__members=[sam], version="2.0.0")
    _, frame = _evaluation_csv()
    frame["prediction_id"] = [f"r{i}" for i in range(len(frame))]
    evaluation, _ = services.evaluation_upload(actor=sam, version=version, kind="production", filename="preds.csv",
                                               data=frame.drop(columns="y_true").to_csv(index=False).encode())
    settings.PORTAL_UPLOAD_PART_BYTES = 1024  # the 2.4 KB label files go in parts
    settings.PORTAL_MAX_ROWS = 150  # and are checked in three pieces
    errors = _watch_console(page)
    log_in(page, live_server, "sam")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}{evaluation.get_absolute_url()}")

    wrong = frame[["prediction_id", "y_true"]].copy()
    wrong.loc[200, "prediction_id"] = "nobody"
    page.get_by_label("Label file").set_input_files(files=[{"name": "labels.csv", "mimeType": "text/csv",
                                                             "buffer": wrong.to_csv(index=False).encode()}])
    page.get_by_role("button", name="Add labels").click()
    problems = page.locator("[data-parts-problems] li")
    problems.first.wait_for()
    assert page.locator("[data-parts-status]").inner_text() == "The file was rejected and nothing was stored:"
    assert ("column 'prediction_id', rows 202: prediction id 'nobody' is not one of the 400 predictions of "
            f"evaluation #{evaluation.pk}") in problems.first.inner_text()
    assert not LabelBatch.objects.exists()

    content = frame[["prediction_id", "y_true"]].to_csv(index=False).encode()
    page.get_by_label("Label file").set_input_files(files=[{"name": "labels.csv", "mimeType": "text/csv",
                                                             "buffer": content}])
    page.get_by_role("button", name="Add labels").click()
    # Tasks run inline here: the evaluation is recomputed inside the request that completes the upload, and the
    # page may reload as its status changes before that request ends. Wait for the upload itself.
    for _ in range(300):
        if UploadSession.objects.filter(state="complete").exists():
            break
        page.wait_for_timeout(100)
    session = UploadSession.objects.filter(state="complete").get()
    page.goto(f"{live_server.url}{evaluation.get_absolute_url()}")
    assert session.purpose == "labels" and session.part_count == -(-len(content) // 1024) > 1
    assert session.label_batch == LabelBatch.objects.get() and session.label_batch.row_count == 400
    assert f"{accuracy_score(frame.y_true, frame.y_pred):.4f}" in page.get_by_role(
        "region", name="Overall metrics").inner_text()
    assert errors == [], f"browser console errors (CSP or JS): {errors}"
