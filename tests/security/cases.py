"""A valid request for every state-changing URL and method, as a role allowed to make it.

``CASES[(url_name, method)]`` builds the objects the request needs and returns a ``Write``: who sends it,
the URL's kwargs and a body that succeeds. The audit test sends it as that actor and counts the events; the
method matrix sends the same body as every role that may not, so a 2xx there would be a real write.

``collect_writes()`` (tests/role_matrix) lists every unsafe method some role may use; a test fails until
each has a case here.
"""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.core.models import ApiToken
from tests.compliance.factories import UseCaseFactory
from tests.factories import PASSWORD, UserFactory, api_key_for
from tests.integrations.factories import MlflowServerFactory
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    BusinessUnitFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    TeamFactory,
)
from tests.notifications.factories import WebhookSubscriptionFactory
from tests.risk.factories import ratings

SHA = "ab" * 32


@dataclass
class Write:
    """One request. ``data`` may be a function, called for every send (an upload can be read only once)."""

    actor: Any
    kwargs: dict | None = None
    data: Any = field(default_factory=dict)
    api: bool = True  # JSON body; False: an HTML form (multipart)
    # Audit events the request writes when it succeeds (see EXPECTED_EVENTS for those that are not one).
    events: int = 1
    headers: dict = field(default_factory=dict)  # e.g. an upload part's X-Part-SHA256

    def body(self):
        return self.data() if callable(self.data) else self.data


def send(client: Client, method: str, url: str, write: Write | None):
    """Send ``write``'s body with ``method``; without a case, an empty body."""
    data = write.body() if write else {}
    if write is not None and not write.api:
        if method == "post":
            return client.post(url, data)
        from urllib.parse import urlencode

        encoded = urlencode({k: v for k, v in data.items() if not hasattr(v, "read")}, doseq=True)
        return client.generic(method.upper(), url, encoded, content_type="application/x-www-form-urlencoded")
    if any(hasattr(v, "read") for v in data.values()):
        if method == "post":
            return client.post(url, data)
        data = {k: v for k, v in data.items() if not hasattr(v, "read")}
    headers = write.headers if write else {}
    return client.generic(method.upper(), url, json.dumps(data), content_type="application/json", headers=headers)


CASES: dict[tuple[str, str], Callable[[Any], Write]] = {}
# Requests that by design write other than one audit event, and why.
EXPECTED_EVENTS: dict[tuple[str, str], str] = {}


def case(url_name: str, method: str = "post", *, events: int = 1, why: str = ""):
    def register(build):
        assert (url_name, method) not in CASES, f"two cases for {url_name} {method}"
        if events != 1:
            assert why, f"{url_name} {method}: say why it writes {events} audit events"
            EXPECTED_EVENTS[(url_name, method)] = why

        def build_write(ctx) -> Write:
            write = build(ctx)
            write.events = events
            return write

        CASES[(url_name, method)] = build_write
        return build

    return register


def user(role: str | None = None, **kwargs):
    return UserFactory(roles=[role] if role else [], **kwargs)


def member_of(team, role: str = "data_scientist"):
    """A user of ``role`` in ``team``: writes to a model belong to its team (another team's are refused)."""
    person = user(role)
    team.members.add(person)
    return person


# --- Helpers building the objects a request needs ------------------------------------------------------

def csv_upload(name: str, rows: int = 40, columns=("y_true", "y_pred", "y_score", "sex")):
    def make():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for n in range(rows):
            values = {"y_true": n % 2, "y_pred": (n // 2) % 2, "y_score": round((n % 10) / 10, 2),
                      "sex": "female" if n % 3 else "male", "income": 40 + n,
                      "champion_pred": n % 2, "challenger_pred": (n // 3) % 2,
                      "champion_score": round((n % 7) / 7, 3), "challenger_score": round((n % 5) / 5, 3)}
            writer.writerow([values[c] for c in columns])
        return SimpleUploadedFile(name, out.getvalue().encode(), "text/csv")

    return make


def draft_review(*, opener=None, version=None):
    from apps.reviews.services import review_start

    opener = opener or user("data_scientist")
    version = version or ModelVersionFactory()
    version.model.team.members.add(opener)  # only the model's team opens its reviews
    return review_start(actor=opener, version=version)


def submitted_review(submitter=None):
    from tests.reviews.helpers import submitted_review as build

    return build(submitter=submitter or user("data_scientist"))


def alert():
    from apps.monitoring.models import Alert

    version = ModelVersionFactory()
    return Alert.objects.create(model=version.model, version=version, metric="overall.accuracy", value=0.7,
                                threshold="< 0.8", severity="breach", message="accuracy is 0.7000.")


def assessment_body(model) -> dict:
    from apps.risk.scoring import RISKS

    return {"model": model.slug, "exposure": "internal", "automation_level": "human_reviews", "summary": "API",
            "ratings": [{"risk": key, "probability": 2, "impact": 2, "rationale": "r"} for key in RISKS]}


def risk_form(**extra) -> dict:
    from apps.risk.scoring import RISKS

    data = {"exposure": "internal", "automation_level": "human_reviews", "people_affected": 100, "summary": "s",
            "regulated_domain": "none"}
    for key in RISKS:
        data.update({f"{key}_probability": 2, f"{key}_impact": 2, f"{key}_rationale": "because",
                     f"{key}_mitigation0_status": "open", f"{key}_mitigation1_status": "open"})
    return {**data, **extra}


# --- Core ---------------------------------------------------------------------------------------------

@case("login")  # auth.login_succeeded: password and single sign-on are audited alike
def _login(ctx):
    account = user("executive")
    return Write(actor=None, data={"username": account.username, "password": PASSWORD}, api=False)


@case("logout", events=0, why="signing out changes the session, not governed data")
def _logout(ctx):
    return Write(actor=user("executive"), api=False)


@case("core:api-token-create")
def _token(ctx):
    return Write(actor=user("executive"), data={"name": "CI"}, api=False)


@case("core:api-token-revoke")
def _token_revoke(ctx):
    owner = user("executive")
    api_key_for(owner)
    return Write(actor=owner, data={"token": ApiToken.objects.get(user=owner).pk}, api=False)


@case("core:password-change")
def _password_change(ctx):
    new = "a-new-pass-456!"
    return Write(actor=user("reviewer"), api=False,
                 data={"old_password": PASSWORD, "new_password1": new, "new_password2": new})


@case("notifications:mark-read", events=0, why="a per-person read marker, not governed data")
def _mark_read(ctx):
    from apps.notifications.services import notify

    reader = user("executive")
    note = notify(recipient=reader, subject="s", body="b", url="/")
    return Write(actor=reader, data={"id": note.pk}, api=False)


# --- Inventory pages ----------------------------------------------------------------------------------

FROM_USE_CASE = "the use case it comes from becomes its record: its classification and its link are audited too"


@case("inventory:model-create", events=3, why=FROM_USE_CASE)
def _model_create(ctx):
    team = TeamFactory()
    actor = member_of(team)
    return Write(actor=actor, api=False, data={
        "name": "Security probe", "purpose": "p", "accountable_owner": actor.pk, "technical_owners": [actor.pk],
        "team": team.pk, "exposure": "internal", "automation_level": "human_reviews",
        "task_type": "binary", "tags": "probe", "use_case": UseCaseFactory().pk})


@case("inventory:model-edit", events=2, why="a new purpose also asks for a risk re-assessment")
def _model_edit(ctx):
    actor = user("data_scientist")
    model = MLModelFactory(accountable_owner=actor)
    return Write(actor=actor, kwargs={"slug": model.slug}, api=False, data={
        "name": model.name, "purpose": "changed", "accountable_owner": actor.pk, "team": model.team.pk,
        "exposure": "internal", "automation_level": "human_reviews", "task_type": "binary", "tags": "",
        "reason": "probe"})


@case("inventory:version-detail")
def _version_transition_page(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"slug": version.model.slug, "version": version.version},
                 api=False, data={"stage": "staging", "reason": "probe"})


@case("inventory:version-create")
def _version_create_page(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), kwargs={"slug": model.slug}, api=False, data={
        "version": "9.9.9", "algorithm": "gbm", "framework": "lightgbm", "hyperparameters": "{}",
        "validation_metrics": "{}", "validated_environment": "", "artifact_uri": "", "artifact_sha256": "",
        "description": ""})


@case("inventory:deployment-create")
def _deployment_create_page(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"slug": version.model.slug, "version": version.version},
                 api=False, data={"environment": "staging", "kind": "batch", "target": "probe",
                                  "runtime_environment": json.dumps(FINGERPRINT)})


@case("inventory:dataset-create")
def _dataset_create_page(ctx):
    return Write(actor=user("data_scientist"), api=False, data={
        "name": "probe-data", "version": "1", "kind": "raw", "legal_basis": "not_applicable", "schema": ""})


@case("inventory:process-create")
def _process_create_page(ctx):
    return Write(actor=user("admin"), api=False, data={
        "name": "Probe process", "business_unit": BusinessUnitFactory().pk, "decision": "d",
        "decisions_per_day": "10", "value_at_stake": "100"})


@case("inventory:import", events=9,
      why="a file of two models under a new unit and team: one event per object created (each model three, "
          "as it comes from a use case), then one for the import")
def _import_commit(ctx):
    from apps.inventory import importer

    owner = user("executive")
    rows = [["name", "purpose", "business_unit", "team", "accountable_owner", "use_case"],
            ["Probe one", "p", "Probe unit", "Probe team", owner.username, UseCaseFactory().reference],
            ["Probe two", "p", "Probe unit", "Probe team", owner.username, UseCaseFactory().reference]]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    content = out.getvalue().encode()
    return Write(actor=user("data_scientist"), api=False,
                 data={"action": "commit", "sha256": importer.store_upload(content), "filename": "probe.csv"})


# --- Inventory API ------------------------------------------------------------------------------------

@case("business-unit-list")
def _unit_api(ctx):
    return Write(actor=user("data_scientist"), data={"name": "Probe unit"})


@case("team-list")
def _team_api(ctx):
    return Write(actor=user("data_scientist"), data={"name": "Probe team", "business_unit": BusinessUnitFactory().slug})


@case("business-process-list")
def _process_api(ctx):
    return Write(actor=user("data_scientist"), data={
        "name": "Probe process", "business_unit": BusinessUnitFactory().slug, "decision": "d"})


@case("business-process-detail", "patch")
def _process_patch(ctx):
    return Write(actor=user("data_scientist"), kwargs={"slug": BusinessProcessFactory().slug},
                 data={"description": "changed"})


@case("dataset-list")
def _dataset_api(ctx):
    return Write(actor=user("data_scientist"), data={"name": "probe-data", "version": "1"})


@case("dataset-detail", "patch")
def _dataset_patch(ctx):
    owner = user("data_scientist")
    return Write(actor=owner, kwargs={"slug": DataSetFactory(owner=owner).slug}, data={"description": "changed"})


@case("pipeline-step-list")
def _step_api(ctx):
    owner = user("data_scientist")
    output = DataSetFactory(kind="derived", owner=owner)
    return Write(actor=owner, data={"name": "probe-step", "inputs": [DataSetFactory().slug], "output": output.slug})


@case("model-list", events=3, why=FROM_USE_CASE)
def _model_api(ctx):
    team = TeamFactory()
    actor = member_of(team)
    return Write(actor=actor, data={"name": "Security probe", "purpose": "p", "accountable_owner": actor.username,
                                    "team": team.slug, "use_case": UseCaseFactory().reference})


@case("model-detail", "patch", events=2, why="a new purpose also asks for a risk re-assessment")
def _model_patch(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), kwargs={"slug": model.slug},
                 data={"purpose": "changed", "reason": "probe"})


@case("model-version-list")
def _version_api(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), data={
        "model": model.slug, "version": "9.9.9", "artifact_sha256": SHA,
        "validated_environment": FINGERPRINT})


@case("model-version-detail", "patch")
def _version_patch(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"pk": version.pk},
                 data={"description": "changed", "reason": "probe"})


@case("model-version-transition")
def _version_transition_api(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"pk": version.pk},
                 data={"stage": "staging", "reason": "probe"})


@case("deployment-list")
def _deployment_api(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), data={
        "version": version.pk, "environment": "staging", "target": "probe",
        "runtime_environment": FINGERPRINT})


@case("deployment-detail", "patch")
def _deployment_patch(ctx):
    runtime = {**FINGERPRINT, "python": "3.12.0"}
    deployment = DeploymentFactory(environment="staging")
    return Write(actor=member_of(deployment.version.model.team), kwargs={"pk": deployment.pk},
                 data={"runtime_environment": runtime})


@case("deployment-retire")
def _deployment_retire(ctx):
    deployment = DeploymentFactory(environment="staging")
    return Write(actor=member_of(deployment.version.model.team), kwargs={"pk": deployment.pk},
                 data={"reason": "probe"})


# --- Monitoring ---------------------------------------------------------------------------------------

@case("monitoring:upload")
def _upload_page(ctx):
    version = ModelVersionFactory()
    upload = csv_upload("eval.csv")
    return Write(actor=member_of(version.model.team), api=False, data=lambda: {
        "version": version.pk, "kind": "validation", "file": upload(), "sensitive_features": "sex",
        "positive_label": "1", "target_column": "y_true", "prediction_column": "y_pred",
        "score_column": "y_score", "timestamp_column": "timestamp"})


@case("monitoring:upload-preview", events=0, why="a preview reads the file and stores nothing")
def _upload_preview(ctx):
    version = ModelVersionFactory()
    upload = csv_upload("eval.csv")
    return Write(actor=user("data_scientist"), api=False, data=lambda: {
        "version": version.pk, "kind": "validation", "file": upload(), "positive_label": "1", "target_column": "y_true",
        "prediction_column": "y_pred", "score_column": "y_score", "timestamp_column": "timestamp"})


@case("monitoring:reference-upload")
def _reference_page(ctx):
    version = ModelVersionFactory()
    upload = csv_upload("train.csv", columns=("income", "sex"))
    return Write(actor=member_of(version.model.team), api=False, data=lambda: {"version": version.pk, "file": upload()})


@case("monitoring:compare", events=0, why="the comparison is computed within the request and nothing is stored")
def _compare(ctx):
    from apps.inventory.models import Stage

    champion = ModelVersionFactory(stage=Stage.PRODUCTION, model__stage=Stage.PRODUCTION)
    challenger = ModelVersionFactory(model=champion.model, stage=Stage.STAGING)
    upload = csv_upload("both.csv", columns=("y_true", "champion_pred", "champion_score", "challenger_pred",
                                             "challenger_score", "sex"))
    return Write(actor=user("data_scientist"), kwargs={"slug": champion.model.slug}, api=False, data=lambda: {
        "champion": champion.pk, "challenger": challenger.pk, "file": upload(), "target_column": "y_true",
        "champion_pred": "champion_pred", "champion_score": "champion_score", "challenger_pred": "challenger_pred",
        "challenger_score": "challenger_score", "sensitive_features": "sex", "positive_label": "1"})


@case("monitoring:promote", events=2,
      why="promotion moves the challenger to production and the champion back to staging: one event each")
def _promote(ctx):
    from apps.inventory import gates
    from apps.inventory.models import Stage

    ctx.monkeypatch.setattr(gates, "PRODUCTION_CHECKS", [])
    champion = ModelVersionFactory(stage=Stage.PRODUCTION, model__stage=Stage.PRODUCTION)
    challenger = ModelVersionFactory(model=champion.model, stage=Stage.STAGING)
    return Write(actor=member_of(champion.model.team), kwargs={"slug": champion.model.slug}, api=False,
                 data={"challenger": challenger.pk, "champion": champion.pk})


@case("monitoring:alert-acknowledge")
def _alert_ack_page(ctx):
    return Write(actor=user("reviewer"), kwargs={"pk": alert().pk}, api=False)


@case("monitoring:alert-resolve")
def _alert_resolve_page(ctx):
    return Write(actor=user("reviewer"), kwargs={"pk": alert().pk}, api=False)


@case("alert-acknowledge")
def _alert_ack_api(ctx):
    return Write(actor=user("data_scientist"), kwargs={"pk": alert().pk})


@case("alert-resolve")
def _alert_resolve_api(ctx):
    return Write(actor=user("data_scientist"), kwargs={"pk": alert().pk})


@case("evaluation-list")
def _evaluation_api(ctx):
    version = ModelVersionFactory()
    upload = csv_upload("eval.csv")
    return Write(actor=member_of(version.model.team), data=lambda: {
        "model_version": version.pk, "kind": "validation", "file": upload(), "sensitive_features": "sex"})


@case("evaluation-by-reference")
def _evaluation_by_reference_api(ctx):
    import hashlib
    from pathlib import Path

    import pandas as pd
    from django.conf import settings

    root = Path(settings.MEDIA_ROOT).parent / "lake"
    root.mkdir(parents=True, exist_ok=True)
    ctx.monkeypatch.setattr(settings, "PORTAL_DATA_ROOTS", [str(root)])
    path = root / "eval.parquet"
    pd.DataFrame({"y_true": [0, 1] * 20, "y_pred": [0, 0, 1, 1] * 10, "sex": ["female", "male"] * 20}
                 ).to_parquet(path)
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), data={
        "model_version": version.pk, "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "sensitive_features": ["sex"]})


def late_labelled_evaluation():
    """A production evaluation uploaded without its outcomes (ids p0..p19), and its team's data scientist."""
    from apps.monitoring import services

    version = ModelVersionFactory()
    scientist = member_of(version.model.team)
    rows = "\n".join(f"p{n},{n % 2},{(n % 10) / 10}" for n in range(20))
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, kind="production",
                                               data=f"prediction_id,y_pred,y_score\n{rows}\n".encode(),
                                               filename="preds.csv")
    return evaluation, scientist


def label_upload():
    return SimpleUploadedFile("labels.csv", b"prediction_id,y_true\np1,1\np2,0\n", "text/csv")


@case("monitoring:evaluation-labels")
def _labels_page(ctx):
    evaluation, scientist = late_labelled_evaluation()
    return Write(actor=scientist, kwargs={"pk": evaluation.pk}, api=False, data=lambda: {"file": label_upload()})


def failed_explanation():
    """A done evaluation whose explanation was given up, and a data scientist of its model's team."""
    from apps.monitoring.models import Evaluation

    version = ModelVersionFactory()
    evaluation = Evaluation.objects.create(
        version=version, filename="eval.csv", file_format="csv", sha256=SHA, size_bytes=10, raw_path="x",
        parquet_path="x", row_count=10, status=Evaluation.Status.DONE, explanation_attempts=3,
        metrics={"overall": {"accuracy": 0.9}, "explanations": {"status": "failed", "reason": "Gave up."}})
    return evaluation, member_of(version.model.team)


@case("monitoring:evaluation-explanation-retry")
def _explanation_retry_page(ctx):
    evaluation, scientist = failed_explanation()
    return Write(actor=scientist, kwargs={"pk": evaluation.pk}, api=False)


@case("evaluation-explain")
def _explanation_retry_api(ctx):
    evaluation, scientist = failed_explanation()
    return Write(actor=scientist, kwargs={"pk": evaluation.pk})


@case("evaluation-labels")
def _labels_api(ctx):
    evaluation, scientist = late_labelled_evaluation()
    return Write(actor=scientist, kwargs={"pk": evaluation.pk}, data=lambda: {"file": label_upload()})


@case("model-version-reference")
def _reference_api(ctx):
    upload = csv_upload("train.csv", columns=("income", "sex"))
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"pk": version.pk}, data=lambda: {"file": upload()})


def _upload_of(*, body: bytes = b"{}"):
    """An open upload of ``body`` (the JSON the cases send) in one part, by a member of its model's team."""
    import hashlib
    from datetime import timedelta

    from django.utils import timezone

    from apps.monitoring.models import UploadSession

    version = ModelVersionFactory()
    return UploadSession.objects.create(
        version=version, created_by=member_of(version.model.team), filename="big.csv", size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(), part_size=1024, options={"kind": "validation"},
        expires_at=timezone.now() + timedelta(hours=1))


@case("upload-list")
def _upload_start_api(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), data={
        "model_version": version.pk, "filename": "big.csv", "size": 10_000, "sha256": SHA})


@case("upload-part", "put", events=0, why="parts are recorded on their upload; starting and finishing it is audited")
def _upload_part_api(ctx):
    import hashlib

    session = _upload_of()
    return Write(actor=session.created_by, kwargs={"pk": session.pk, "number": 1},
                 headers={"X-Part-SHA256": hashlib.sha256(b"{}").hexdigest()})


@case("upload-complete")
def _upload_complete_api(ctx):
    session = _upload_of(body=b"")
    session.size_bytes, session.parts = 1, {"1": {"size": 1, "sha256": SHA}}
    session.save()
    return Write(actor=session.created_by, kwargs={"pk": session.pk})


@case("upload-detail", "delete")
def _upload_abort_api(ctx):
    session = _upload_of()
    return Write(actor=session.created_by, kwargs={"pk": session.pk})


# --- Reviews ------------------------------------------------------------------------------------------

@case("reviews:start")
def _start_page(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"version_id": version.pk}, api=False)


@case("reviews:answers")
def _answers_page(ctx):
    review = draft_review()
    item = review.answers.first().item_id
    return Write(actor=review.created_by, kwargs={"pk": review.pk}, api=False,
                 data={f"answer_{item}": "yes", f"evidence_{item}": "probe"})


@case("reviews:decide")
def _decide_page(ctx):
    review = submitted_review()
    return Write(actor=user("reviewer"), kwargs={"pk": review.pk}, api=False,
                 data={"decision": "approve", "comment": "", "seen_hash": review.content_hash})


@case("reviews:assign")
def _assign_page(ctx):
    review = draft_review()
    return Write(actor=user("admin"), kwargs={"pk": review.pk}, api=False,
                 data={"reviewer": user("reviewer").username})


@case("reviews:acknowledge")
def _acknowledge_page(ctx):
    owner = user("executive")
    review = draft_review(version=ModelVersionFactory(model__accountable_owner=owner))
    return Write(actor=owner, kwargs={"pk": review.pk}, api=False, data={"confirm": "on"})


@case("reviews:withdraw")
def _withdraw_page(ctx):
    review = draft_review()
    return Write(actor=review.created_by, kwargs={"pk": review.pk}, api=False, data={"reason": "probe"})


@case("review-list")
def _start_api(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), data={"version": version.pk})


@case("review-answers")
def _answers_api(ctx):
    review = draft_review()
    return Write(actor=review.created_by, kwargs={"pk": review.pk},
                 data={"item": review.answers.first().item_id, "answer": "yes", "evidence": "probe"})


@case("review-submit")
def _submit_api(ctx):
    from apps.reviews.services import review_answer

    review = draft_review()
    for answer in review.answers.all():
        review_answer(actor=review.created_by, review=review, item_id=answer.item_id, answer="yes", evidence="e")
    return Write(actor=review.created_by, kwargs={"pk": review.pk})


@case("review-decide")
def _decide_api(ctx):
    review = submitted_review()
    return Write(actor=user("reviewer"), kwargs={"pk": review.pk}, data={"decision": "approve"})


@case("review-assign")
def _assign_api(ctx):
    return Write(actor=user("reviewer"), kwargs={"pk": draft_review().pk}, data={"reviewer": user("reviewer").username})


@case("review-acknowledge")
def _acknowledge_api(ctx):
    owner = user("executive")
    review = draft_review(version=ModelVersionFactory(model__accountable_owner=owner))
    return Write(actor=owner, kwargs={"pk": review.pk}, data={"confirm": True})


@case("review-withdraw")
def _withdraw_api(ctx):
    review = draft_review()
    return Write(actor=review.created_by, kwargs={"pk": review.pk}, data={"reason": "probe"})


# --- Risk ---------------------------------------------------------------------------------------------

@case("risk:assess")
def _assess_page(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), kwargs={"slug": model.slug}, api=False, data=risk_form())


@case("risk:policy-edit")
def _policy_page(ctx):
    return Write(actor=user("admin"), kwargs={"tier": "high"}, api=False, data={
        "required_approvals": 3, "checklists": ["intentionality", "accountability"], "monitoring_cadence": "daily",
        "metric_thresholds": '{"accuracy_min": 0.9}', "reassessment_days": 60, "note": "probe"})


@case("risk:matrix-edit")
def _matrix_page(ctx):
    from apps.risk.selectors import current_matrix

    config = current_matrix().config
    data = {"note": "probe", "escalate_external_exposure": "on", "escalate_fully_automated": "on",
            "people_threshold": config["people_threshold"], "regulated_floor": "high"}
    for p in range(1, 6):
        for i in range(1, 6):
            data[f"cell_{p}_{i}"] = config["grid"][p - 1][i - 1]
    return Write(actor=user("admin"), api=False, data=data)


@case("risk-assessment-list")
def _assessment_api(ctx):
    return Write(actor=user("reviewer"), data=assessment_body(MLModelFactory()))


@case("risk-assessment-submit")
def _assessment_submit_api(ctx):
    from apps.risk.services import assessment_save_draft

    draft = assessment_save_draft(actor=None, model=MLModelFactory(), ratings=ratings())
    return Write(actor=user("reviewer"), kwargs={"pk": draft.pk}, data={"based_on": None})


@case("governance-policy-list")
def _policy_api(ctx):
    return Write(actor=user("admin"), data={
        "tier": "low", "required_approvals": 1, "checklists": ["intentionality"], "monitoring_cadence": "monthly",
        "metric_thresholds": {"accuracy_min": 0.6}, "reassessment_days": 300, "note": "probe"})


def url_for(url_name: str, write: Write) -> str:
    return reverse(url_name, kwargs=write.kwargs)


# --- Governance ---------------------------------------------------------------------------------------

@case("governance:accept")
def _accept_risk_page(ctx):
    from datetime import timedelta

    from django.utils import timezone

    from apps.inventory.models import VersionGovernance

    version = ModelVersionFactory(stage="production")
    # A breach suspended the approval (how it gets there is tested in tests/governance).
    VersionGovernance.objects.filter(pk=version.pk).update(approval="suspended")
    return Write(actor=user("reviewer"), kwargs={"version_id": version.pk}, api=False,
                 data={"reason": "Retraining under way; declines reviewed by hand meanwhile.",
                       "expires_on": (timezone.localdate() + timedelta(days=10)).isoformat()})


# --- Webhooks (admins) ----------------------------------------------------------------------------------
# A public address given as a number: accepted without a DNS lookup, and nothing is sent during a test
# (deliveries leave after the commit, which the test's transaction never reaches).
WEBHOOK = {"name": "probe", "url": "https://93.184.216.34/hook", "events": ["gate.refused"]}


@case("notifications:webhook-create")
def _webhook_create(ctx):
    return Write(actor=user("admin"), data=WEBHOOK, api=False)


@case("notifications:webhook-ping")
def _webhook_ping(ctx):
    return Write(actor=user("admin"), kwargs={"pk": WebhookSubscriptionFactory().pk}, api=False)


@case("notifications:webhook-delete")
def _webhook_delete(ctx):
    return Write(actor=user("admin"), kwargs={"pk": WebhookSubscriptionFactory().pk}, api=False)


@case("webhook-list")
def _webhook_create_api(ctx):
    return Write(actor=user("admin"), data=WEBHOOK)


@case("webhook-ping")
def _webhook_ping_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": WebhookSubscriptionFactory().pk})


@case("webhook-detail", "delete")
def _webhook_delete_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": WebhookSubscriptionFactory().pk})


# --- MLflow servers (admins) ----------------------------------------------------------------------------
# Nothing listens on the server's address (port 9, discard): a sync is only queued here (its task leaves after
# the commit, which the test's transaction never reaches) and a connection test answers why it failed.

def mlflow_form(ctx, **extra):
    return {"name": "MLflow probe", "url": "http://127.0.0.1:9", "auth": "none", "team": TeamFactory().pk,
            "owner": user("data_scientist").pk, "page_size": 50, **extra}


@case("integrations:server-create")
def _mlflow_create(ctx):
    return Write(actor=user("admin"), data=mlflow_form(ctx), api=False)


@case("integrations:server-test", events=0, why="a connection test reads the server; it changes nothing")
def _mlflow_test(ctx):
    return Write(actor=user("admin"), kwargs={"pk": MlflowServerFactory().pk}, api=False)


@case("integrations:server-sync")
def _mlflow_sync(ctx):
    return Write(actor=user("admin"), kwargs={"pk": MlflowServerFactory().pk}, api=False)


@case("integrations:server-delete")
def _mlflow_delete(ctx):
    return Write(actor=user("admin"), kwargs={"pk": MlflowServerFactory().pk}, api=False)


@case("mlflow-server-list")
def _mlflow_create_api(ctx):
    team, owner = TeamFactory(), user("data_scientist")
    return Write(actor=user("admin"), data={"name": "MLflow probe", "url": "http://127.0.0.1:9", "team": team.slug,
                                            "owner": owner.username})


@case("mlflow-server-test", events=0, why="a connection test reads the server; it changes nothing")
def _mlflow_test_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": MlflowServerFactory().pk})


@case("mlflow-server-sync")
def _mlflow_sync_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": MlflowServerFactory().pk})


@case("mlflow-server-detail", "delete")
def _mlflow_delete_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": MlflowServerFactory().pk})


# --- Compliance ---------------------------------------------------------------------------------------

CLASSIFICATION = {"eu_category": "high_risk", "annex_iii_area": "essential_services", "role": "provider",
                  "rationale": "Scores applicants for consumer credit."}


@case("compliance:classify")
def _classify_page(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), kwargs={"slug": model.slug}, api=False, data=dict(CLASSIFICATION))


@case("api-compliance-classification", "put")
def _classify_api(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), kwargs={"slug": model.slug}, data=dict(CLASSIFICATION))


# --- Use-case intake ------------------------------------------------------------------------------------

def use_case_answers(*, api: bool) -> dict:
    owner, process = user("executive"), BusinessProcessFactory()
    return {"title": "Probe use case", "purpose": "p", "intended_use": "", "rationale": "",
            "business_owner": owner.username if api else owner.pk,
            "business_process": process.slug if api else process.pk, "eu_category": "minimal",
            "annex_iii_area": "none", "role": "provider", "exposure": "internal", "automation_level": "human_decides",
            "people_affected": 0, "screening_probability": 2, "screening_impact": 2}


@case("intake:propose")
def _propose_page(ctx):
    return Write(actor=user("data_scientist"), api=False, data=use_case_answers(api=False))


@case("api-use-case-list")
def _propose_api(ctx):
    return Write(actor=user("data_scientist"), data=use_case_answers(api=True))


@case("intake:edit")
def _edit_use_case_page(ctx):
    return Write(actor=user("admin"), kwargs={"pk": UseCaseFactory(state="draft").pk}, api=False,
                 data={**use_case_answers(api=False), "title": "Renamed probe"})


@case("api-use-case-detail", "patch")
def _edit_use_case_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": UseCaseFactory(state="draft").pk},
                 data={"title": "Renamed probe"})


@case("intake:submit")
def _submit_use_case_page(ctx):
    return Write(actor=user("admin"), kwargs={"pk": UseCaseFactory(state="draft").pk}, api=False)


@case("api-use-case-submit")
def _submit_use_case_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": UseCaseFactory(state="draft").pk})


@case("intake:decide")
def _decide_use_case_page(ctx):
    return Write(actor=user("reviewer"), kwargs={"pk": UseCaseFactory(state="submitted").pk}, api=False,
                 data={"decision": "approve", "reason": "Fits."})


@case("api-use-case-decide")
def _decide_use_case_api(ctx):
    return Write(actor=user("reviewer"), kwargs={"pk": UseCaseFactory(state="submitted").pk},
                 data={"decision": "decline", "reason": "No business case."})


@case("intake:withdraw")
def _withdraw_use_case_page(ctx):
    return Write(actor=user("admin"), kwargs={"pk": UseCaseFactory(state="draft").pk}, api=False,
                 data={"reason": "Not needed."})


@case("api-use-case-withdraw")
def _withdraw_use_case_api(ctx):
    return Write(actor=user("admin"), kwargs={"pk": UseCaseFactory(state="submitted").pk}, data={"reason": ""})
@case("compliance:documents")
def _generate_document_page(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"slug": version.model.slug, "version": version.version},
                 api=False, data={"kind": "annex_iv"})


@case("api-compliance-documents", "post")
def _generate_document_api(ctx):
    version = ModelVersionFactory()
    return Write(actor=member_of(version.model.team), kwargs={"version_id": version.pk}, data={"kind": "sr11_7"})
# --- Findings and incidents ----------------------------------------------------------------------------

def _finding(owner=None):
    from tests.findings.factories import FindingFactory

    return FindingFactory(**({"owner": owner} if owner else {}))


def _incident():
    from tests.findings.factories import IncidentFactory

    return IncidentFactory()


def _due() -> str:
    from datetime import timedelta

    from django.utils import timezone

    return (timezone.localdate() + timedelta(days=20)).isoformat()


def _finding_body(owner) -> dict:
    return {"title": "Calibration drifts for applicants over 70", "description": "Observed default rate 9 points off.",
            "severity": "high", "owner": owner.username, "due_date": _due(), "remediation": ""}


def _page_finding_body(owner) -> dict:
    return {**_finding_body(owner), "owner": owner.pk}


def _incident_body(model, *, api: bool) -> dict:
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.localtime().replace(microsecond=0)
    fmt = (lambda t: t.isoformat()) if api else (lambda t: t.strftime("%Y-%m-%dT%H:%M"))
    body = {"title": "Scores returned as zero", "description": "The feature store timed out for an hour.",
            "impact": "312 applicants refused in error.", "occurred_at": fmt(now - timedelta(hours=3)),
            "aware_at": fmt(now - timedelta(hours=2)), "serious_kind": ""}
    return {"model": model.slug, **body} if api else body


@case("findings:raise")
def _raise_page(ctx):
    version = ModelVersionFactory()
    return Write(actor=user("reviewer"), kwargs={"version_id": version.pk}, api=False,
                 data=_page_finding_body(version.model.accountable_owner))


@case("finding-list")
def _raise_api(ctx):
    version = ModelVersionFactory()
    return Write(actor=user("reviewer"), data={**_finding_body(version.model.accountable_owner),
                                               "version": version.pk})


@case("findings:finding-edit")
def _remediate_page(ctx):
    finding = _finding()
    return Write(actor=member_of(finding.version.model.team), kwargs={"pk": finding.pk}, api=False,
                 data={"remediation": "Recalibrated with isotonic regression on 2026 data."})


@case("finding-detail", "patch")
def _remediate_api(ctx):
    finding = _finding()
    return Write(actor=member_of(finding.version.model.team), kwargs={"pk": finding.pk},
                 data={"remediation": "Recalibrated with isotonic regression on 2026 data."})


@case("findings:finding-status")
def _finding_status_page(ctx):
    finding = _finding()
    return Write(actor=member_of(finding.version.model.team), kwargs={"pk": finding.pk}, api=False,
                 data={"status": "remediating", "note": ""})


@case("finding-transition")
def _finding_status_api(ctx):
    finding = _finding()
    return Write(actor=member_of(finding.version.model.team), kwargs={"pk": finding.pk},
                 data={"status": "remediating"})


@case("compliance:finding-controls")
def _finding_controls_page(ctx):
    from apps.compliance.models import Control

    control = Control.objects.filter(framework_version__status="published", code="SR-VAL").get()
    return Write(actor=user("reviewer"), kwargs={"pk": _finding().pk}, api=False, data={"controls": [control.pk]})


@case("api-compliance-finding-controls", "put")
def _finding_controls_api(ctx):
    from apps.compliance.models import Control

    control = Control.objects.filter(framework_version__status="published", code="SR-VAL").get()
    return Write(actor=user("reviewer"), kwargs={"pk": _finding().pk}, data={"controls": [control.pk]})


@case("findings:incident-open")
def _incident_page(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), kwargs={"slug": model.slug}, api=False,
                 data=_incident_body(model, api=False))


@case("incident-list")
def _incident_api(ctx):
    model = MLModelFactory()
    return Write(actor=member_of(model.team), data=_incident_body(model, api=True))


@case("findings:incident-edit")
def _incident_edit_page(ctx):
    incident = _incident()
    body = {**_incident_body(incident.model, api=False), "root_cause": "A feature store outage."}
    return Write(actor=member_of(incident.model.team), kwargs={"pk": incident.pk}, api=False, data=body)


@case("incident-detail", "patch")
def _incident_edit_api(ctx):
    incident = _incident()
    return Write(actor=member_of(incident.model.team), kwargs={"pk": incident.pk},
                 data={"root_cause": "A feature store outage."})


@case("findings:incident-entry")
def _incident_entry_page(ctx):
    from django.utils import timezone

    incident = _incident()
    return Write(actor=member_of(incident.model.team), kwargs={"pk": incident.pk}, api=False,
                 data={"at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "text": "Fallback switched on."})


@case("incident-entries")
def _incident_entry_api(ctx):
    from django.utils import timezone

    incident = _incident()
    return Write(actor=member_of(incident.model.team), kwargs={"pk": incident.pk},
                 data={"at": timezone.now().isoformat(), "text": "Fallback switched on."})


@case("findings:incident-status")
def _incident_status_page(ctx):
    incident = _incident()
    return Write(actor=member_of(incident.model.team), kwargs={"pk": incident.pk}, api=False,
                 data={"status": "contained", "note": "Fallback in place."})


@case("incident-transition")
def _incident_status_api(ctx):
    incident = _incident()
    return Write(actor=member_of(incident.model.team), kwargs={"pk": incident.pk},
                 data={"status": "contained", "note": "Fallback in place."})
