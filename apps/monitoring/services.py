"""Monitoring writes: uploads (validated before anything is stored), computations, windows and alerts."""

import hashlib
import logging
import os
import shutil
import socket
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime, timedelta
from functools import partial
from itertools import islice

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import IntegrityError, OperationalError, connections, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ConflictError, DomainError
from apps.core.roles import Capability, require
from apps.core.services import audit_record
from apps.inventory import services as inventory_services
from apps.inventory.models import MLModel, ModelVersion, Stage
from apps.inventory.signals import governance_changed, governance_deferred
from apps.monitoring import batches, datasets, drift, explain, ingest, labels, metrics, selectors, storage, thresholds
from apps.monitoring.limits import upload_limits
from apps.monitoring.models import EXPLANATION_PENDING, Alert, Evaluation, LabelBatch, MetricWindow, ReferenceData
from apps.monitoring.streaming import check_and_convert, label_pieces, sniff_format
from apps.notifications.services import notify
from apps.risk.selectors import obligations_for
from apps.risk.services import reassessment_open_for_breach

logger = logging.getLogger(__name__)
DEFAULT_COLUMNS = {"target": "y_true", "prediction": "y_pred", "score": "y_score", "timestamp": "timestamp"}
DEFAULT_PREDICTION_ID = "prediction_id"


class UploadRejected(DomainError):
    """The file was refused; ``problems`` lists (column, rows, message) for the person to fix."""

    def __init__(self, problems: list):
        self.problems = problems
        first = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"The file was rejected and nothing was stored: {first}{more}")


def _require_uploader(actor, version: ModelVersion) -> None:
    """Evaluations raise the model's alerts and are evidence in its reviews: a write to the model, which
    belongs to its team, its owners and admins (core.roles)."""
    if actor is not None:
        require(actor, Capability.UPLOAD_EVALUATION, version.model)


def _parse(data: bytes, *, filename: str, version: ModelVersion, columns: dict, sensitive_features: list[str],
           positive_label: str, prediction_id_column: str, labels_later: bool):
    try:
        return ingest.parse_evaluation(
            data, filename=filename, target_column=columns["target"], prediction_column=columns["prediction"],
            score_column=columns["score"], timestamp_column=columns["timestamp"],
            sensitive_features=list(sensitive_features), task_type=version.model.task_type,
            positive_label=str(positive_label), limits=upload_limits(),
            prediction_id_column=prediction_id_column, require_target=not labels_later,
        )
    except ingest.IngestError as exc:
        raise UploadRejected(list(exc.problems)) from exc


def evaluation_upload(*, actor, version: ModelVersion, data: bytes, filename: str, kind: str = "validation",
                      columns: dict | None = None, sensitive_features=(), positive_label: str = "1",
                      idempotency_key: str = "", prediction_id_column: str = DEFAULT_PREDICTION_ID,
                      ) -> tuple[Evaluation, bool]:
    """Validate, store (raw + Parquet), record and queue an evaluation. Returns (evaluation, created).

    A production file may leave out the target column when it has ``prediction_id_column``: drift is
    computed at once, performance and fairness when labels arrive (``evaluation_labels_add``).

    Nothing is stored when the file is rejected. The same ``idempotency_key`` from the
    same person with the same file and options returns the first evaluation instead of
    creating another; with another file or other options it is a conflict.
    """
    _require_uploader(actor, version)
    if kind not in Evaluation.Kind.values:
        raise DomainError(f"kind must be one of {', '.join(Evaluation.Kind.values)}.", field="kind")
    _check_idempotency_key(idempotency_key)
    if version.stage == Stage.RETIRED:
        raise ConflictError(f"{version} is retired; evaluations are not accepted for it.")
    columns = {**DEFAULT_COLUMNS, **{k: v for k, v in (columns or {}).items() if v}}
    request = {}
    if idempotency_key:
        request = _upload_request(version=version, data=data, filename=filename, kind=kind, columns=columns,
                                  sensitive_features=sensitive_features, positive_label=positive_label)
        request["prediction_id_column"] = prediction_id_column
        existing = _replayed(actor=actor, request=request, idempotency_key=idempotency_key)
        if existing:
            return existing, False
    parsed = _parse(data, filename=filename, version=version, columns=columns,
                    sensitive_features=sensitive_features, positive_label=positive_label,
                    prediction_id_column=prediction_id_column or DEFAULT_PREDICTION_ID,
                    labels_later=kind == Evaluation.Kind.PRODUCTION)
    columnar = ingest.to_parquet_bytes(parsed.df)  # before storing anything, so a failure here leaves nothing
    digest, raw_path = storage.put(data, kind="raw", suffix=f".{parsed.file_format}")
    _, parquet_path = storage.put(columnar, kind="parquet", suffix=".parquet")
    period = _period(parsed.df, parsed.timestamp_column)
    described = {"target": parsed.target_column, "prediction": parsed.prediction_column,
                 "score": parsed.score_column, "timestamp": parsed.timestamp_column,
                 "sensitive_features": list(parsed.sensitive_features), "features": list(parsed.feature_columns),
                 "labels": list(parsed.labels), "probability_columns": dict(parsed.probability_columns)}
    if parsed.labels_pending:
        described["prediction_id"] = parsed.prediction_id_column  # labels are joined to it later
    try:
        with transaction.atomic():
            evaluation = Evaluation.objects.create(
                version=version, kind=kind, filename=filename[:255], file_format=parsed.file_format, sha256=digest,
                size_bytes=len(data), raw_path=raw_path, parquet_path=parquet_path, row_count=parsed.row_count,
                columns=described,
                positive_label=str(positive_label), warnings=list(parsed.warnings), created_by=actor,
                idempotency_key=idempotency_key, idempotency_request=request,
                period_start=period[0], period_end=period[1])
            audit_record(actor=actor, action="evaluation.uploaded", obj=evaluation,
                         changes={"sha256": [None, digest], "rows": [None, parsed.row_count], "kind": [None, kind]})
            transaction.on_commit(lambda: enqueue(evaluation.pk))
    except IntegrityError:
        # A parallel replay with the same key won the race (the unique constraint waited for its commit):
        # answer with its evaluation. The files it stored are ours too, content-addressed.
        existing = _replayed(actor=actor, request=request, idempotency_key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    return evaluation, True


def check_sha256(value: str, field: str = "sha256") -> str:
    """A SHA-256 as 64 lower-case hexadecimal characters, or a DomainError naming ``field``."""
    digest = value.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise DomainError(f"{field} must be a SHA-256 in hexadecimal: 64 characters (e.g. the output of sha256sum), "
                          f"not {value[:80]!r}.", field=field)
    return digest


def _described_by_reference(footer: datasets.Footer, *, version: ModelVersion, columns: dict,
                            sensitive_features: list[str], positive_label: str) -> dict:
    """What each column of a data set registered by reference is, from its footer's column names alone."""
    task_type, present = version.model.task_type, set(footer.columns)
    missing = [name for name in (columns["target"], columns["prediction"], *sensitive_features) if name not in present]
    if missing:
        shown = ", ".join(f"'{name}'" for name in footer.columns[:20])
        raise DomainError(f"The data set has no column {', '.join(repr(m) for m in missing)}; its columns are "
                          f"{shown}.", field="columns")
    if task_type == "binary" and str(positive_label).strip() != "1":
        raise DomainError("A binary data set registered by reference holds its labels as 0 and 1 (1 = positive), "
                          "so positive_label must be 1; recode the labels or upload the file.", field="positive_label")
    score = columns["score"] if columns["score"] in present and task_type == "binary" else None
    probabilities = ({name[len(columns["score"]) + 1:]: name for name in footer.columns
                      if name.startswith(f"{columns['score']}_")} if task_type == "multiclass" else {})
    timestamp = columns["timestamp"] if columns["timestamp"] in present else None
    special = {columns["target"], columns["prediction"], score, timestamp, *sensitive_features,
               *probabilities.values()}
    return {"target": columns["target"], "prediction": columns["prediction"], "score": score, "timestamp": timestamp,
            "sensitive_features": list(sensitive_features),
            "features": [name for name in footer.columns if name not in special], "labels": sorted(probabilities),
            "probability_columns": probabilities}


def _data_set_places() -> dict:
    """Where data sets may be registered from by reference (``datasets.resolve``), and how S3 is reached."""
    return {"roots": settings.PORTAL_DATA_ROOTS, "buckets": settings.PORTAL_DATA_BUCKETS,
            "s3": settings.PORTAL_DATA_S3}


def evaluation_register(*, actor, version: ModelVersion, path: str, sha256: str, kind: str = "validation",
                        columns: dict | None = None, sensitive_features=(), positive_label: str = "1") -> Evaluation:
    """Record and queue an evaluation of a Parquet data set that stays where it is: a file under
    ``PORTAL_DATA_ROOTS`` or an ``s3://`` object in ``PORTAL_DATA_BUCKETS``.

    Only the footer is read here (schema, row count, the timestamp column's range); the worker reads the
    rows in batches from the file itself after checking its SHA-256, so nothing is copied and a data set
    that changed since it was registered fails with that message instead of giving other numbers.
    """
    _require_uploader(actor, version)
    if kind not in Evaluation.Kind.values:
        raise DomainError(f"kind must be one of {', '.join(Evaluation.Kind.values)}.", field="kind")
    if version.stage == Stage.RETIRED:
        raise ConflictError(f"{version} is retired; evaluations are not accepted for it.")
    digest = check_sha256(sha256)
    try:
        footer = datasets.read_footer(path, max_chunk_bytes=settings.PORTAL_MAX_DECODED_BYTES, **_data_set_places())
    except datasets.DataSetError as exc:
        raise DomainError(str(exc), field="path") from exc
    columns = {**DEFAULT_COLUMNS, **{k: v for k, v in (columns or {}).items() if v}}
    sensitive_features = list(sensitive_features)
    described = _described_by_reference(footer, version=version, columns=columns,
                                        sensitive_features=sensitive_features, positive_label=positive_label)
    period = footer.period(described["timestamp"]) if described["timestamp"] else (None, None)
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            version=version, kind=kind, filename=footer.name[:255], file_format="parquet", sha256=digest,
            size_bytes=footer.size_bytes, raw_path="", parquet_path="", source_uri=footer.location,
            row_count=footer.row_count, columns=described, positive_label="1", created_by=actor,
            period_start=period[0], period_end=period[1])
        audit_record(actor=actor, action="evaluation.registered", obj=evaluation,
                     changes={"source_uri": [None, footer.location], "sha256": [None, digest],
                              "rows": [None, footer.row_count], "kind": [None, kind]})
        transaction.on_commit(lambda: enqueue(evaluation.pk))
    return evaluation


# What each part of an upload's fingerprint is called in a conflict message.
REQUEST_PARTS = {"version": "model_version", "sha256": "file", "filename": "file name", "kind": "kind",
                 "columns": "column names", "sensitive_features": "sensitive_features",
                 "prediction_id_column": "prediction_id_column",
                 "positive_label": "positive_label", "task_type": "model's task type"}


def _check_idempotency_key(key: str) -> None:
    # A key is never cut to fit the column: two long keys sharing a prefix would replay each other's upload.
    limit = Evaluation._meta.get_field("idempotency_key").max_length
    if len(key) > limit:
        raise DomainError(f"The Idempotency-Key is {len(key):,} characters long; keys may have at most {limit}. "
                          "Send a shorter unique key, such as a UUID.", field="Idempotency-Key")


def _upload_request(*, version: ModelVersion, data: bytes, filename: str, kind: str, columns: dict,
                    sensitive_features, positive_label: str) -> dict:
    """What an Idempotency-Key stands for: the file and every option that shapes the evaluation."""
    return {"version": version.pk, "sha256": storage.sha256(data), "filename": filename, "kind": kind,
            "columns": dict(columns), "sensitive_features": list(sensitive_features),
            "positive_label": str(positive_label), "task_type": version.model.task_type}


def _replayed(*, actor, request: dict, idempotency_key: str) -> Evaluation | None:
    """The evaluation a key already created, if any; the same key with another file or options is a conflict.

    Only the parts the first upload recorded are compared (keys stored before a part existed lack it).
    """
    if not idempotency_key:
        return None
    existing = Evaluation.objects.filter(created_by=actor, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    differ = [REQUEST_PARTS.get(part, part) for part, value in existing.idempotency_request.items()
              if request.get(part) != value]
    if differ:
        raise ConflictError(f"This Idempotency-Key was already used for a different upload (evaluation "
                            f"#{existing.pk}; its {', '.join(differ)} differ). Send a new key for a new upload; "
                            "repeat the first request unchanged to get its evaluation.")
    return existing


def enqueue(evaluation_id: int) -> bool:
    """Hand the computation to the broker; if the broker is down, the row stays queued for the requeue task.

    Publishing never retries here (the broker settings bound the connection attempt to about a second),
    so a request that uploads returns promptly with Redis down; ``requeue_stale`` sends it later.
    """
    from apps.monitoring.tasks import compute_evaluation

    try:
        compute_evaluation.apply_async(args=[evaluation_id], retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the outbox row is picked up later
        logger.warning("broker unavailable; evaluation %s stays queued for the requeue task", evaluation_id)
        return False
    Evaluation.objects.filter(pk=evaluation_id).update(enqueued_at=timezone.now())
    return True


def requeue_stale(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Outbox sweep: queue again what never reached the broker, what the broker lost, or whose worker died.

    * queued and never sent (the broker was down at upload time), once older than ``older_than``;
    * queued, sent more than a lease ago and still not started: the message was lost (Redis restarted
      without persistence, or its worker was killed before claiming it);
    * running, but its worker stopped beating (killed, out of memory) or it overran its lease.

    A computation abandoned ``PORTAL_TASK_MAX_ATTEMPTS`` times is not sent again: it ends failed here.
    A duplicate message is harmless: ``_claim`` lets only one worker compute an evaluation.

    It also sends again the explanations of done evaluations still pending ``EXPLANATION_RESEND_AFTER`` (five
    minutes) after their message was sent (``_resend_explanations``). Returns how many messages it sent.
    """
    now = timezone.now()
    lease = now - timedelta(seconds=settings.PORTAL_TASK_LEASE_SECONDS)
    queued = Evaluation.objects.filter(status=Evaluation.Status.QUEUED)
    never_sent = queued.filter(enqueued_at__isnull=True, created_at__lt=now - older_than)
    lost = queued.filter(enqueued_at__lt=lease)
    abandoned = Evaluation.objects.filter(_abandoned(now))
    for pk in abandoned.filter(attempts__gte=settings.PORTAL_TASK_MAX_ATTEMPTS).values_list("pk", flat=True):
        _give_up(evaluation_id=pk, now=now)
    retried = abandoned.filter(attempts__lt=settings.PORTAL_TASK_MAX_ATTEMPTS)
    pks = sorted({pk for rows in (never_sent, lost, retried) for pk in rows.values_list("pk", flat=True)})
    return sum(enqueue(pk) for pk in pks) + _resend_explanations(now=now)


def _abandoned(now: datetime) -> Q:
    """Running, but nobody is computing it any more: its worker stopped beating, or it overran the lease."""
    silent = selectors.worker_silent_since(now)
    lease = now - timedelta(seconds=settings.PORTAL_TASK_LEASE_SECONDS)
    return Q(status=Evaluation.Status.RUNNING) & (
        Q(heartbeat_at__lt=silent) | Q(heartbeat_at__isnull=True, started_at__lt=silent) | Q(started_at__lt=lease))


def _claim(evaluation_id: int) -> datetime | None:
    """Take the evaluation for this worker: queued, or abandoned (see ``_abandoned``) fewer than the maximum times.

    Returns the claim's start time, the fencing token: only the holder of the latest claim may store
    the result, so a worker that outlived its lease cannot write after another one took over. An
    evaluation abandoned too often ends failed instead (a message the broker redelivers lands here).
    """
    now = timezone.now()
    claimed = (
        Evaluation.objects.filter(pk=evaluation_id)
        .filter(Q(status=Evaluation.Status.QUEUED)
                | _abandoned(now) & Q(attempts__lt=settings.PORTAL_TASK_MAX_ATTEMPTS))
        .update(status=Evaluation.Status.RUNNING, started_at=now, heartbeat_at=now, worker=_worker_name(),
                attempts=F("attempts") + 1)
    )
    if not claimed:
        _give_up(evaluation_id=evaluation_id, now=now)
        return None
    return now


def _worker_name() -> str:
    """Which process holds a claim, for whoever reads the row; read per call, as pool children fork."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _give_up(*, evaluation_id: int, now: datetime) -> bool:
    """End an evaluation abandoned ``PORTAL_TASK_MAX_ATTEMPTS`` times as failed, saying why. True if it did."""
    limit = settings.PORTAL_TASK_MAX_ATTEMPTS
    with transaction.atomic():
        evaluation = (Evaluation.objects.select_for_update(of=("self",)).select_related("version__model")
                      .filter(_abandoned(now), pk=evaluation_id, attempts__gte=limit).first())
        if evaluation is None:
            return False
        times = f"{evaluation.attempts} time{'s' if evaluation.attempts != 1 else ''}"
        if evaluation.heartbeat_at and evaluation.heartbeat_at >= selectors.worker_silent_since(now):
            reason = (f"The computation was attempted {times} and never finished within the "
                      f"{settings.PORTAL_TASK_LEASE_SECONDS} s limit (PORTAL_TASK_LEASE_SECONDS); the file may be "
                      "too large for this machine.")
        else:
            reason = (f"The computation was attempted {times} and its worker died each time (last: killed or out "
                      "of memory); the file may be too large for this machine.")
        _fail(evaluation, reason=reason, now=now)
    logger.warning("evaluation %s given up after %s attempts", evaluation_id, evaluation.attempts)
    return True


def _fail(evaluation: Evaluation, *, reason: str, now: datetime) -> None:
    """Record the failure and its audit event; the caller holds the claim or the row lock, in a transaction."""
    before = evaluation.status
    evaluation.status, evaluation.error, evaluation.finished_at = Evaluation.Status.FAILED, reason, now
    evaluation.save(update_fields=["status", "error", "finished_at"])
    audit_record(actor=None, action="evaluation.failed", obj=evaluation,
                 changes={"status": [before, Evaluation.Status.FAILED]}, reason=reason)


@contextmanager
def heartbeat(mine: QuerySet):
    """Renew the claim ``mine`` (rows with a ``heartbeat_at``: an evaluation's, an upload's) from a thread while
    the work runs.

    The thread dies with its process, so a worker killed mid-computation (SIGKILL, the out-of-memory
    killer, a lost host) falls silent and the requeue sweep hands its work on within about a minute
    and a half, on every broker: the filesystem broker has no late acknowledgement to fall back on.
    """
    stop = threading.Event()
    thread = threading.Thread(target=_beat, args=(mine, stop), name="claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _beat(mine: QuerySet, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.PORTAL_TASK_HEARTBEAT_SECONDS):
            try:
                if not mine.update(heartbeat_at=timezone.now()):
                    return  # the claim ended or was taken over: nothing left to keep alive
            except OperationalError:
                logger.warning("heartbeat of a claim could not be written; trying again", exc_info=True)
    finally:
        connections.close_all()  # this thread's own connection


def release(mine: QuerySet) -> None:
    """Hand a claim back after a transient database error, so the task's retry can claim it again.

    The attempt is not counted: the limit bounds computations that kill their worker, not database hiccups.
    If the database is still down the claim stays; its heartbeat has stopped, so the sweep takes it over.
    """
    try:
        mine.update(status=Evaluation.Status.QUEUED, started_at=None, heartbeat_at=None,
                    attempts=F("attempts") - 1)
    except OperationalError:
        logger.warning("could not release a claim; the requeue sweep takes it over", exc_info=True)


def _failure_message(exc: Exception) -> str:
    """What a person sees when a computation fails: the exception's message, never its traceback."""
    message = str(exc).strip() or type(exc).__name__
    return f"The computation failed: {message}"[:2000]


def _period(frame, timestamp_column: str | None) -> tuple[datetime | None, datetime | None]:
    """First and last prediction time of an upload, when it has timestamps."""
    import pandas as pd

    if not timestamp_column or timestamp_column not in frame or frame.empty:
        return None, None
    stamps = pd.to_datetime(frame[timestamp_column], utc=True)
    return stamps.min().to_pydatetime(), stamps.max().to_pydatetime()


def compute_metrics(frame, *, task_type: str, columns: dict, reference=None,
                    reference_groups: dict[str, str] | None = None) -> dict:
    """Metrics of one data frame (validated by ingest), shaped as the API documents.

    ``reference_groups``: the model's configured fairness reference group per sensitive attribute.
    """
    target, prediction, score = columns["target"], columns["prediction"], columns.get("score")
    # Late labels (apps.monitoring.labels): performance over the labelled rows, drift over all of them.
    late = labels.is_late(frame, target_column=target, id_column=columns.get("prediction_id"))
    scored = labels.labelled_rows(frame, target_column=target, task_type=task_type) if late else frame
    sensitive = {name: scored[name].to_numpy() for name in columns.get("sensitive_features", []) if name in scored}
    if late and scored.empty:
        result = {}  # performance and fairness are pending until labels arrive
    elif task_type == "regression":
        result = metrics.regression_metrics(scored[target].to_numpy(), scored[prediction].to_numpy(),
                                            sensitive=sensitive)
    elif task_type == "multiclass":
        probabilities = columns.get("probability_columns") or {}
        y_proba = scored[list(probabilities.values())].to_numpy() if probabilities else None
        result = metrics.multiclass_metrics(scored[target], scored[prediction], y_proba,
                                            labels=list(probabilities) or None, sensitive=sensitive)
    else:
        y_score = scored[score].to_numpy() if score and score in scored else None
        result = metrics.binary_metrics(scored[target].to_numpy(), scored[prediction].to_numpy(), y_score,
                                        sensitive=sensitive, reference_groups=reference_groups)
    if late:
        result["labels"] = labels.coverage(frame, target_column=target)
    result["drift"] = {}
    result["prediction_drift"] = {}
    if reference is not None:
        features = [c for c in columns.get("features", []) if c in reference.columns and c in frame]
        if features:
            result["drift"] = drift.feature_drift(reference[features], frame[features], features=features)
        # The reference holds the model's outputs on its data under the evaluation's column names.
        result["prediction_drift"] = drift.prediction_drift(
            reference, frame, prediction=prediction, score=score if task_type == "binary" else None,
            numeric_prediction=task_type == "regression")
    return result


@contextmanager
def reference_file(version: ModelVersion):
    """The version's latest reference data, its Parquet copy open for batched reading, or None: what a
    computation of the version's results compares them with."""
    reference = ReferenceData.objects.filter(version=version).order_by("-created_at").first()
    if reference is None:
        yield None
        return
    with storage.open(reference.parquet_path) as handle:
        yield handle


@contextmanager
def _evaluation_file(evaluation: Evaluation):
    """An evaluation's rows, open for batched reading: its stored Parquet copy, or, when it was registered
    by reference, the data set where it stays, once its SHA-256 is still the one registered."""
    if not evaluation.source_uri:
        with storage.open(evaluation.parquet_path) as handle:
            yield handle
        return
    with datasets.open_verified(evaluation.source_uri, sha256=evaluation.sha256, **_data_set_places()) as handle:
        yield handle


def _batched_metrics(evaluations: list[Evaluation], *, warnings: list[str] | None = None) -> tuple[dict, int]:
    """``compute_metrics`` of the evaluations' rows, read in batches: bounded memory (windows: ``windows_compute``).

    ``warnings`` given: a data set registered by reference first gets an upload's checks (``_check_in_place``), in
    the file the metrics then read, and what they warn of is added to the list."""
    version = evaluations[0].version
    model = version.model
    with ExitStack() as files:
        sources = [files.enter_context(_evaluation_file(evaluation)) for evaluation in evaluations]
        for evaluation, source in zip(evaluations, sources, strict=True):
            if warnings is not None and evaluation.source_uri:
                warnings += _check_in_place(evaluation, source)
        reference = files.enter_context(reference_file(version))
        return batches.compute_metrics(sources, task_type=model.task_type, columns=evaluations[0].columns,
                                       reference=reference, reference_groups=model.fairness_reference_groups,
                                       late_labels=[partial(_late_labels, e) for e in evaluations])


def _check_in_place(evaluation: Evaluation, handle) -> list[str]:
    """The checks an uploaded Parquet file gets (``streaming.check_and_convert``, no copy written), on a data set
    registered by reference, before its rows are counted: its footer was checked at registration, its rows were
    not, and they are what the metrics, the pages and the gate show. A sensitive feature with more groups than
    PORTAL_MAX_GROUPS_PER_FEATURE, a group name or label with control or bidirectional-override characters, a text
    value over PORTAL_MAX_LINE_KB, labels other than 0 and 1 for a binary model: the evaluation fails with the
    problems, named by column and row, and nothing is stored. Answers the warnings an upload would get (groups
    too small to judge, probabilities that do not sum to 1, ...). The file is left where the check started."""
    columns, limits = evaluation.columns, upload_limits()
    spec = {key: columns.get(key) for key in ("target", "prediction", "score", "timestamp")}
    spec.update(sensitive_features=list(columns.get("sensitive_features", [])),
                task_type=evaluation.version.model.task_type, positive_label="1")
    try:
        checked = check_and_convert(handle, parquet_path=None, spec=spec, max_groups=limits.max_groups,
                                    max_value_bytes=limits.max_line_bytes, max_chunk_bytes=limits.max_decoded_bytes,
                                    stream_format="parquet")
        return checked.warnings
    except ingest.IngestError as exc:
        raise ValueError(f"the data set does not pass the checks an uploaded file gets: {exc}") from None
    finally:
        handle.seek(0, os.SEEK_SET)


def _lock_alerts_of(version: ModelVersion) -> None:
    """Store one version's results one transaction at a time, so two of them never raise the same alert twice.

    The version row is locked before anything takes the audit chain's lock, in the order
    ``version_transition`` takes them (version, then chain), so the two cannot deadlock.
    """
    ModelVersion.objects.select_for_update().filter(pk=version.pk).values_list("pk", flat=True).first()


def evaluation_compute(*, evaluation_id: int) -> bool:
    """Task body: claim, compute from the Parquet copy, store, check thresholds. Safe to run twice.

    The result, its ``evaluation.computed`` audit event and its alerts are written in one transaction by
    the current claim holder only, so a computation's result exists once however often the task runs.
    Any error ends the evaluation failed with its message, except a transient database error, which
    hands the claim back and propagates so the task retries.
    """
    claim = _claim(evaluation_id)
    if claim is None:
        return False
    mine = Evaluation.objects.filter(pk=evaluation_id, status=Evaluation.Status.RUNNING, started_at=claim)
    with heartbeat(mine):
        if settings.PORTAL_CHAOS_TASK_DELAY:
            time.sleep(settings.PORTAL_CHAOS_TASK_DELAY)  # chaos tests kill the worker here
        try:
            return _compute_and_store(evaluation_id=evaluation_id, mine=mine)
        except OperationalError:
            release(mine)
            raise
        except Exception as exc:
            logger.exception("evaluation %s failed", evaluation_id)
            with transaction.atomic():
                evaluation = mine.select_for_update(of=("self",)).select_related("version__model").first()
                if evaluation is not None:
                    _fail(evaluation, reason=_failure_message(exc), now=timezone.now())
            return False


def _compute_and_store(*, evaluation_id: int, mine: QuerySet) -> bool:
    """Metrics, thresholds and ``done``; the explanation follows in its own task (``evaluation_explain``).

    The surrogate explanation is review evidence that monitoring and alerts do not need, and it costs several
    times the metrics (about 1.6 s against 0.36 s at 1M rows), so it is left off the path from upload to done:
    the metrics are stored with the explanation ``pending`` for this computation, and its task is queued once
    they are committed.
    """
    evaluation = Evaluation.objects.select_related("version__model").get(pk=evaluation_id)
    warnings: list[str] = []
    result, _ = _batched_metrics([evaluation], warnings=warnings)
    if evaluation.source_uri and warnings != evaluation.warnings:  # an upload's are stored when it is recorded
        mine.update(warnings=warnings)
    return store_metrics(evaluation, result, mine=mine)


def claimed_fields(now: datetime) -> dict:
    """The fields of an evaluation claimed at ``now`` by this worker (its first attempt), for one created
    already claimed: an upload in parts whose worker computed the metrics while it checked the file."""
    return {"status": Evaluation.Status.RUNNING, "started_at": now, "heartbeat_at": now, "worker": _worker_name(),
            "attempts": 1}


def store_metrics(evaluation: Evaluation, result: dict, *, mine: QuerySet) -> bool:
    """Store a computation's ``result`` and end the evaluation ``done``, with its ``evaluation.computed`` audit event
    and the alerts of its thresholds, in one transaction, if the claim ``mine`` still holds (False otherwise);
    the explanation is queued once it is committed. Shared by the task and by the worker of an upload in parts,
    which computes the metrics while it checks the file (``uploads``)."""
    now = timezone.now()
    result["explanations"] = _pending_marker(computation=evaluation.started_at, now=now)
    with transaction.atomic():
        _lock_alerts_of(evaluation.version)
        updated = mine.update(status=Evaluation.Status.DONE, metrics=result, error="", finished_at=now,
                              explanation_attempts=0)
        if updated:
            evaluation.metrics = result
            audit_record(actor=None, action="evaluation.computed", obj=evaluation,
                         changes={"status": [Evaluation.Status.RUNNING, Evaluation.Status.DONE]},
                         reason=f"attempt {evaluation.attempts}")
            thresholds_check(version=evaluation.version, metrics=result, evaluation=evaluation)
            transaction.on_commit(lambda: enqueue_explanation(evaluation.pk))
    return bool(updated)


# --- Explanations, after done -----------------------------------------------------------------------------------

# A pending explanation whose message was sent longer ago than this is sent again by the sweep (``requeue_stale``):
# the explanation itself takes seconds at any size (it reads a sample), so after minutes its message was lost, or
# the heavy queue is long, in which case the copy costs the worker one query (the first message explains it).
# For the same reason a worker that started an explanation this long ago and stored nothing has died.
EXPLANATION_RESEND_AFTER = timedelta(minutes=5)


def _pending_marker(*, computation: datetime, now: datetime) -> dict:
    """``metrics["explanations"]`` until the follow-up task stores the explanation: ``computation`` is the claim
    that computed these metrics (a recomputation from late labels has another), ``sent_at`` when its task was
    last sent; ``started_at`` is added when a worker starts it (``_explanation_start``)."""
    return {"status": "pending", "computation": computation.isoformat(), "sent_at": now.isoformat()}


def enqueue_explanation(evaluation_id: int) -> bool:
    """Send the explanation's task; if the broker is down, the sweep sends it again (``requeue_stale``)."""
    from apps.monitoring.tasks import explain_evaluation

    try:
        explain_evaluation.apply_async(args=[evaluation_id], retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the pending explanation is sent again later
        logger.warning("broker unavailable; the explanation of evaluation %s is sent again by the sweep",
                       evaluation_id)
        return False
    return True


def _pending_marker_of(evaluation_id: int) -> dict | None:
    """The pending marker of a done evaluation, or None if there is nothing to explain (any more)."""
    found = (Evaluation.objects.filter(pk=evaluation_id, status=Evaluation.Status.DONE)
             .values_list("metrics__explanations", flat=True).first())
    return found if isinstance(found, dict) and found.get("status") == "pending" else None


def evaluation_explain(*, evaluation_id: int) -> bool:
    """Task body: the surrogate explanation of a done evaluation, stored in ``metrics["explanations"]``.

    Safe to run twice: only a pending explanation is computed, and it is stored under the row lock only if
    the evaluation is still done and still pending for the same computation. A recomputation that replaced
    the metrics meanwhile (late labels) queued its own task, which explains them; this result is dropped.
    An error is stored as ``{"status": "failed", "reason": ...}`` for the page and the review to show, with its
    ``evaluation.explanation_failed`` audit event, except a transient database error, which propagates so the task
    retries. Each start is counted (``explanation_attempts``): one that kills its worker (out of memory) is given
    up after ``PORTAL_TASK_MAX_ATTEMPTS`` starts instead of being sent forever. Returns True if it stored something.
    """
    pending = _pending_marker_of(evaluation_id)
    if pending is None or not _explanation_start(evaluation_id, computation=pending["computation"],
                                                 now=timezone.now()):
        return False
    evaluation = Evaluation.objects.select_related("version__model").filter(pk=evaluation_id).first()
    if evaluation is None:
        return False  # deleted meanwhile
    try:
        with _evaluation_file(evaluation) as source:
            found = explanations_of(evaluation, source)
    except OperationalError:
        _explanation_release(evaluation_id)
        raise
    except Exception as exc:
        logger.exception("explanation of evaluation %s failed", evaluation_id)
        message = str(exc).strip() or type(exc).__name__
        found = {"status": "failed", "reason": f"The explanation could not be computed: {message}"[:2000]}
    with transaction.atomic():
        evaluation = (Evaluation.objects.select_for_update()
                      .filter(pk=evaluation_id, status=Evaluation.Status.DONE).first())
        current = _explanation_of(evaluation)
        if current.get("status") != "pending" or current.get("computation") != pending["computation"]:
            return False  # explained already, or recomputed since: the new computation's task explains it
        evaluation.metrics = {**evaluation.metrics, "explanations": found}
        evaluation.save(update_fields=["metrics"])
        if found["status"] == "failed":
            # Only an error fails here: a give-up is stored (and audited) by ``_explanation_give_up`` instead.
            audit_record(actor=None, action="evaluation.explanation_failed", obj=evaluation,
                         changes={"explanation": ["pending", "failed"]}, reason=found["reason"])
    return True


def _explanation_of(evaluation: Evaluation | None) -> dict:
    return ((evaluation.metrics or {}).get("explanations") or {}) if evaluation else {}


def _since(marker: dict, key: str, *, now: datetime, after: timedelta = EXPLANATION_RESEND_AFTER) -> bool:
    """Whether the marker's ``key`` (``sent_at``, ``started_at``) is set and less than ``after`` old."""
    return bool(marker.get(key)) and datetime.fromisoformat(marker[key]) >= now - after


def _explanation_start(evaluation_id: int, *, computation: str, now: datetime) -> bool:
    """Count a worker's start of a pending explanation, under the row lock. False if it is not to be computed.

    Not computed: explained or recomputed meanwhile, or already started ``PORTAL_TASK_MAX_ATTEMPTS`` times. Then
    it is given up if its last start is old enough for that worker to have died; a younger one may still be
    computing (a duplicate message), and the sweep looks again later.
    """
    with transaction.atomic():
        evaluation = (Evaluation.objects.select_for_update(of=("self",)).select_related("version__model")
                      .filter(pk=evaluation_id, status=Evaluation.Status.DONE).first())
        current = _explanation_of(evaluation)
        if current.get("status") != "pending" or current.get("computation") != computation:
            return False
        if evaluation.explanation_attempts >= settings.PORTAL_TASK_MAX_ATTEMPTS:
            if not _since(current, "started_at", now=now):
                _explanation_give_up(evaluation, current)
            return False
        evaluation.explanation_attempts += 1
        evaluation.metrics = {**evaluation.metrics, "explanations": {**current, "started_at": now.isoformat()}}
        evaluation.save(update_fields=["metrics", "explanation_attempts"])
    return True


def _explanation_release(evaluation_id: int) -> None:
    """Uncount a start that met a transient database error: the limit bounds worker deaths, not hiccups."""
    try:
        Evaluation.objects.filter(pk=evaluation_id, explanation_attempts__gt=0).update(
            explanation_attempts=F("explanation_attempts") - 1)
    except OperationalError:
        logger.warning("could not uncount an explanation's start; it counts towards the limit", exc_info=True)


def _explanation_give_up(evaluation: Evaluation, marker: dict) -> None:
    """End a pending explanation whose workers stopped ``explanation_attempts`` times as failed, with its audit
    event; the caller holds the row lock in a transaction."""
    attempts = evaluation.explanation_attempts
    last = datetime.fromisoformat(marker["started_at"]).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    reason = (f"Gave up after {attempts} attempt{'s' if attempts != 1 else ''}: the worker stopped while explaining "
              f"each time (killed, or out of memory; the last one started at {last}). Someone who may upload this "
              "model's evaluations can ask for the explanation again.")
    evaluation.metrics = {**evaluation.metrics, "explanations": {"status": "failed", "reason": reason}}
    evaluation.save(update_fields=["metrics"])
    audit_record(actor=None, action="evaluation.explanation_given_up", obj=evaluation,
                 changes={"explanation": ["pending", "failed"]}, reason=reason)
    logger.warning("explanation of evaluation %s given up after %s attempts", evaluation.pk, attempts)


def _resend_explanations(*, now: datetime, after: timedelta = EXPLANATION_RESEND_AFTER) -> int:
    """Send again the explanations pending since their message was sent more than ``after`` ago. Returns how many.

    The marker's ``sent_at`` is renewed under the row lock (only if it is still the same pending explanation),
    so each sweep sends one copy per ``after``, not one per sweep. One a worker started less than ``after`` ago
    is still being computed; one whose workers started it ``PORTAL_TASK_MAX_ATTEMPTS`` times and died is given
    up instead of sent again.
    """
    pending = (Evaluation.objects.filter(EXPLANATION_PENDING, finished_at__lt=now - after).order_by("finished_at")
               .values_list("pk", "metrics__explanations"))
    sent = 0
    for pk, marker in pending:
        if _since(marker, "sent_at", now=now, after=after) or _since(marker, "started_at", now=now, after=after):
            continue
        with transaction.atomic():
            evaluation = (Evaluation.objects.select_for_update(of=("self",)).select_related("version__model")
                          .filter(pk=pk, status=Evaluation.Status.DONE).first())
            if _explanation_of(evaluation) != marker:
                continue  # explained or recomputed since the query
            if evaluation.explanation_attempts >= settings.PORTAL_TASK_MAX_ATTEMPTS:
                _explanation_give_up(evaluation, marker)
                continue
            evaluation.metrics = {**evaluation.metrics, "explanations": {**marker, "sent_at": now.isoformat()}}
            evaluation.save(update_fields=["metrics"])
        sent += enqueue_explanation(pk)
    return sent


@transaction.atomic
def evaluation_explanation_retry(*, actor, evaluation: Evaluation) -> Evaluation:
    """Ask again for a failed explanation of a done evaluation: pending again, its attempts counted from zero.

    For an explanation that failed (an error, or given up after its workers died): once the cause is fixed
    (more memory for the workers), the same metrics are explained again. A write to the model, like an upload.
    """
    _require_uploader(actor, evaluation.version)
    locked = (Evaluation.objects.select_for_update(of=("self",)).select_related("version__model")
              .get(pk=evaluation.pk))
    found = _explanation_of(locked)
    if not selectors.explanation_failed(locked):
        state = {"pending": "being computed", "done": "stored"}.get(found.get("status"), "not there")
        if locked.status != Evaluation.Status.DONE:
            state += f" and the evaluation is {locked.get_status_display().lower()}"
        raise ConflictError(f"Only a failed explanation can be asked for again; this one is {state} (someone may "
                            "have asked already).")
    now = timezone.now()
    attempts = locked.explanation_attempts
    locked.metrics = {**locked.metrics, "explanations": _pending_marker(
        computation=locked.started_at or locked.finished_at or now, now=now)}
    locked.explanation_attempts = 0
    locked.save(update_fields=["metrics", "explanation_attempts"])
    audit_record(actor=actor, action="evaluation.explanation_requested", obj=locked,
                 changes={"explanation": ["failed", "pending"], "explanation_attempts": [attempts, 0]},
                 reason=found.get("reason", ""))
    transaction.on_commit(lambda: enqueue_explanation(locked.pk))
    return locked


def explanations_of(evaluation: Evaluation, source) -> dict:
    """The surrogate explanation of an evaluation's outputs (``explain``), with, for production results, how
    importances moved since the version's latest finished validation evaluation.

    ``source`` is the evaluation's Parquet file, open. Only the rows ``explain`` would sample from the whole
    file (at most ``explain.MAX_ROWS``, fixed seed) are kept while it is read in batches, so a file of any
    size gets the explanation its whole frame would get, in bounded memory.
    """
    columns = evaluation.columns
    task_type = evaluation.version.model.task_type
    score = columns.get("score")
    names = set(batches.column_names(source))
    if task_type == "regression":
        output, kind = columns["prediction"], "prediction"
    elif task_type == "binary" and score and score in names:
        output, kind = score, "score"
    else:
        output, kind = columns["prediction"], "label"
    features = [name for name in columns.get("features") or [] if name in names]
    sensitive = [name for name in columns.get("sensitive_features") or [] if name in names]
    positions = explain.sample_positions(batches.row_count(source), features=len(features))
    sample = batches.rows_at(source, positions, columns=list(dict.fromkeys([output, *features, *sensitive])))
    found = explain.explain_outputs(sample, features=features, output=output, output_kind=kind, sensitive=sensitive)
    if evaluation.kind == Evaluation.Kind.PRODUCTION and found["status"] == "done":
        found["shift"] = _importance_shift(evaluation, found)
    return found


def _importance_shift(evaluation: Evaluation, found: dict) -> dict:
    """Compare with the explanation of the version's latest finished validation evaluation, if it has one."""
    validation = (Evaluation.objects.filter(version=evaluation.version, kind=Evaluation.Kind.VALIDATION,
                                            status=Evaluation.Status.DONE)
                  .order_by("-finished_at", "-pk").values_list("pk", "metrics__explanations").first())
    if validation is None:
        return {"validation_evaluation": None,
                "reason": "This version has no finished validation evaluation to compare with."}
    pk, before = validation
    if before and before.get("status") == "pending":
        return {"validation_evaluation": pk,
                "reason": f"The explanation of validation evaluation #{pk} was still being computed."}
    if not before or before.get("status") != "done" or before["output"]["kind"] != found["output"]["kind"]:
        return {"validation_evaluation": pk,
                "reason": f"Validation evaluation #{pk} has no comparable explanation (computed before explanations "
                          "existed, without features, or of another kind of output)."}
    return {"validation_evaluation": pk, "validation_fidelity": before["fidelity"]["value"],
            "features": explain.importance_shift(before, found)}


def _parse_reference(data: bytes, *, filename: str):
    """A reference table, with the same byte-level checks as evaluations (encoding, size, format, columns)."""
    return ingest.read_table(data, filename=filename, limits=upload_limits())


@transaction.atomic
def reference_upload(*, actor, version: ModelVersion, data: bytes, filename: str) -> ReferenceData:
    """Store a version's reference features (Parquet, CSV or JSON Lines); drift compares evaluations with it."""
    _require_uploader(actor, version)
    try:
        frame, file_format = _parse_reference(data, filename=filename)
    except ingest.IngestError as exc:
        raise UploadRejected(list(exc.problems)) from exc
    digest, raw_path = storage.put(data, kind="raw", suffix=f".{file_format}")
    _, parquet_path = storage.put(ingest.to_parquet_bytes(frame), kind="parquet", suffix=".parquet")
    reference = ReferenceData.objects.create(version=version, filename=filename[:255], sha256=digest,
                                             raw_path=raw_path, parquet_path=parquet_path, row_count=len(frame),
                                             columns=[str(c) for c in frame.columns], created_by=actor)
    audit_record(actor=actor, action="reference_data.uploaded", obj=version,
                 changes={"reference_sha256": [None, digest], "rows": [None, len(frame)]})
    return reference


# --- Late labels ----------------------------------------------------------------------------------------------

@contextmanager
def _late_labels(evaluation: Evaluation):
    """The labels that arrived after an evaluation uploaded without them, read to be joined to its rows batch by
    batch (``labels.LateLabels``; None for one uploaded with its labels). A context manager, so that a computation
    over many evaluations reads each one's labels only when it reaches its rows."""
    id_column = evaluation.columns.get("prediction_id")
    if not id_column:
        yield None
        return
    paths = LabelBatch.objects.filter(evaluation=evaluation).order_by("pk").values_list("parquet_path", flat=True)
    with ExitStack() as files:
        late = labels.LateLabels([files.enter_context(storage.open(path)) for path in paths], id_column=id_column,
                                 target_column=evaluation.columns["target"])
    if late.by_row is not None and len(late.by_row) > evaluation.row_count:
        raise ValueError(f"labels of evaluation #{evaluation.pk} were stored for row {len(late.by_row):,}, but it has "
                         f"{evaluation.row_count:,} rows")
    yield late


def _parse_labels(data: bytes, *, filename: str, evaluation: Evaluation) -> ingest.ParsedLabels:
    model = evaluation.version.model
    columns = evaluation.columns
    known = None
    if model.task_type == "binary":
        # The labels the predictions use: a label file must speak the same language ("yes"/"no" or 1/0).
        found = {*columns.get("labels", []), evaluation.positive_label}
        known = found if len(found) >= 2 else None
    elif model.task_type == "multiclass" and columns.get("probability_columns"):
        known = set(columns["probability_columns"])
    try:
        return ingest.parse_labels(data, filename=filename, prediction_id_column=columns["prediction_id"],
                                   target_column=columns["target"], task_type=model.task_type,
                                   positive_label=evaluation.positive_label, known_labels=known,
                                   limits=upload_limits())
    except ingest.IngestError as exc:
        # Labels are not sampled: a file over the limits of one request goes in parts, checked by a worker.
        raise UploadRejected([ingest.Problem(p.column, p.rows, p.message.replace("upload a sample or split it", (
            "send it as an upload in parts (POST /api/v1/uploads/ with purpose labels; the client's add_labels "
            "does so for a file over 8 MB), which takes labels of any number")))
            for p in exc.problems]) from exc


def _check_labels(parsed: ingest.ParsedLabels, evaluation: Evaluation) -> np.ndarray:
    """Refuse ids the evaluation does not have and ids an earlier batch labelled (see ``labels``); return each
    label's evaluation row. The stored ids are read a batch at a time: the web process holds the label file, never
    the evaluation's copy (at 10M rows, 1.8 GB read whole before)."""
    id_column = evaluation.columns["prediction_id"]
    with_rows, without = [], []
    for path in evaluation.label_batches.values_list("parquet_path", flat=True):
        with storage.open(path) as handle:
            names = batches.column_names(handle)
        (with_rows if labels.has_rows(names, id_column=id_column, target_column=evaluation.columns["target"])
         else without).append(path)
    checked = labels.check(
        parsed, id_column=id_column, evaluation_ids=_stored_ids(evaluation.parquet_path, id_column),
        labelled_rows=(rows.to_numpy() for path in with_rows for rows in _stored_ids(path, labels.ROW_COLUMN)),
        labelled_ids=(ids for path in without for ids in _stored_ids(path, id_column)),
        evaluation_name=f"evaluation #{evaluation.pk}")
    if checked.problems:
        raise UploadRejected(checked.problems)
    return checked.rows


def _stored_ids(path: str, id_column: str):
    """The ids of a stored Parquet file (an evaluation's copy, a label batch; or another of its columns), a batch at
    a time."""
    with storage.open(path) as handle:
        yield from batches.column_batches(handle, id_column)


def require_labels_later(evaluation: Evaluation) -> None:
    if not evaluation.columns.get("prediction_id"):
        raise ConflictError(f"Evaluation #{evaluation.pk} was uploaded with its outcomes; labels are added only "
                            "to production evaluations uploaded without a target column, with prediction ids.")


def evaluation_labels_add(*, actor, evaluation: Evaluation, data: bytes, filename: str) -> LabelBatch:
    """Store the outcomes of an evaluation's predictions and queue its recomputation. Returns the batch.

    Only for a production evaluation uploaded without its target (``columns["prediction_id"]``). The file
    is checked in full (ids known and not labelled before, labels valid for the task) before anything is
    stored; a refusal stores nothing. The recomputation replaces the metrics with those over every labelled
    row so far; a computation still running for the evaluation is fenced out (its claim no longer holds)
    and the metric windows it overlaps are recomputed after it (``windows_refresh_for``). A label file of more
    than ``PORTAL_MAX_ROWS`` labels comes as an upload in parts (``evaluation_labels_add_file``).
    """
    _require_uploader(actor, evaluation.version)
    require_labels_later(evaluation)
    parsed = _parse_labels(data, filename=filename, evaluation=evaluation)
    with transaction.atomic():
        # One batch at a time per evaluation: two batches labelling the same id cannot both pass the check.
        evaluation = Evaluation.objects.select_for_update(of=("self",)).select_related("version__model").get(
            pk=evaluation.pk)
        rows = _check_labels(parsed, evaluation)
        columnar = ingest.to_parquet_bytes(labels.stored(parsed.df, rows, id_column=evaluation.columns["prediction_id"],
                                                         target_column=evaluation.columns["target"]))
        digest, raw_path = storage.put(data, kind="raw", suffix=f".{parsed.file_format}")
        _, parquet_path = storage.put(columnar, kind="labels", suffix=".parquet")
        return _record_labels(actor, evaluation, filename=filename, file_format=parsed.file_format, sha256=digest,
                              size=len(data), raw_path=raw_path, parquet_path=parquet_path, count=parsed.row_count)


def _record_labels(actor, evaluation: Evaluation, *, filename: str, file_format: str, sha256: str, size: int,
                   raw_path: str, parquet_path: str, count: int) -> LabelBatch:
    """Record a checked and stored label file and queue its evaluation's recomputation (in the caller's
    transaction, the evaluation's row locked)."""
    batch = LabelBatch.objects.create(evaluation=evaluation, filename=filename[:255], file_format=file_format,
                                      sha256=sha256, size_bytes=size, raw_path=raw_path, parquet_path=parquet_path,
                                      row_count=count, created_by=actor)
    audit_record(actor=actor, action="evaluation.labels_added", obj=evaluation,
                 changes={"label_sha256": [None, sha256], "labels": [None, count]})
    Evaluation.objects.filter(pk=evaluation.pk).update(
        status=Evaluation.Status.QUEUED, error="", started_at=None, heartbeat_at=None, finished_at=None,
        enqueued_at=None, attempts=0)
    transaction.on_commit(lambda: enqueue(evaluation.pk))
    return batch


# What labels a row of the evaluation (``_labelled_rows``; 0: nothing yet): an earlier label file, the file checked.
_EARLIER, _THIS_FILE = 1, 2


def evaluation_labels_add_file(*, actor, evaluation: Evaluation, path: str, filename: str,
                               sha256: str) -> LabelBatch:
    """``evaluation_labels_add`` for a label file of any length on local disk (an upload in parts, assembled
    by a worker; ``sha256`` verified). A CSV or JSON Lines file is checked in pieces of at most
    ``PORTAL_MAX_ROWS`` labels (``streaming.label_pieces``), each as a label file sent alone, against the
    evaluation's ids and every label before it (earlier label files, earlier pieces), and written to one stored
    copy piece by piece: memory holds one piece, one bucket of ids (``labels.RowsById``) and a byte a row of the
    evaluation, whatever the file's length; the disk beside the upload, the ids of both for the time of the check.
    The first piece with problems refuses the file, with those problems and the row where checking stopped, and
    nothing is stored. Another format within ``PORTAL_MAX_UPLOAD_MB`` is read whole, as sent alone.

    The check runs without locking the evaluation (at 50M rows it takes a minute or more); once it passed, the label
    files that arrived meanwhile are compared with this one's rows under the lock, so two files labelling one
    prediction cannot both be stored."""
    _require_uploader(actor, evaluation.version)
    require_labels_later(evaluation)
    with open(path, "rb") as handle:
        head = handle.read(ingest.SNIFF_BYTES)
    try:
        file_format = sniff_format(head)
    except ingest.IngestError:
        file_format = None
    if file_format not in ("csv", "jsonl"):
        if os.path.getsize(path) > settings.PORTAL_MAX_UPLOAD_BYTES:
            raise UploadRejected([ingest.Problem(None, (), (
                f"a label file over {settings.PORTAL_MAX_UPLOAD_BYTES // 2**20} MB (PORTAL_MAX_UPLOAD_MB) is checked "
                "as it is read, which CSV and JSON Lines allow; send it as CSV or JSON Lines"))])
        with open(path, "rb") as handle:
            return evaluation_labels_add(actor=actor, evaluation=evaluation, data=handle.read(), filename=filename)
    id_column, target = evaluation.columns["prediction_id"], evaluation.columns["target"]
    if labels.ROW_COLUMN in (id_column, target):
        raise UploadRejected([ingest.Problem(None, (), (
            f"a label file sent in parts is stored with each label's row in the column {labels.ROW_COLUMN!r}, "
            "which this evaluation's prediction-id or target column is called; send labels in files of at most "
            f"{settings.PORTAL_MAX_ROWS:,} rows (PORTAL_MAX_ROWS) instead"))])
    size, seen = os.path.getsize(path), set(evaluation.label_batches.values_list("pk", flat=True))
    taken, legacy = _labelled_rows(evaluation, seen)
    _require_check_disk(evaluation, path, size, rows=len(taken))
    copy = f"{path}.labels.parquet"
    try:
        count = _check_label_pieces(evaluation, path, copy, file_format=file_format, filename=filename, taken=taken,
                                    legacy=legacy)
        with transaction.atomic():
            evaluation = Evaluation.objects.select_for_update(of=("self",)).select_related("version__model").get(
                pk=evaluation.pk)
            _require_unlabelled_since(evaluation, seen, taken)
            raw_path = storage.put_path(path, digest=sha256, kind="raw", suffix=f".{file_format}")
            with open(copy, "rb") as handle:
                copy_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            parquet_path = storage.put_path(copy, digest=copy_sha256, kind="labels", suffix=".parquet")
            return _record_labels(actor, evaluation, filename=filename, file_format=file_format, sha256=sha256,
                                  size=size,
                                  raw_path=raw_path, parquet_path=parquet_path, count=count)
    finally:
        with suppress(FileNotFoundError):
            os.remove(copy)


def _require_check_disk(evaluation: Evaluation, path: str, size: int, *, rows: int) -> None:
    """Refuse, before it writes a byte, a check of the label file at ``path`` that the disk beside it could not
    hold (``labels.check_disk_bytes``): it would stop part-way with "No space left on device". A label is a line
    of the file, about (a header, blank lines and quoted line breaks count too: an estimate errs high)."""
    with open(path, "rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(partial(handle.read, 8 * 2**20), b"")) + 1
    needed = label_check_disk_bytes(evaluation, size, lines=lines, rows=rows)
    free = shutil.disk_usage(os.path.dirname(path) or ".").free
    if free < needed:
        raise UploadRejected([ingest.Problem(None, (), (
            f"the worker's disk has {_bytes_text(free)} free where it checks files; the {lines:,} lines of this "
            f"label file, matched to the {rows:,} rows of evaluation #{evaluation.pk}, need about "
            f"{_bytes_text(needed)} there while they are checked (the ids of both, sorted to be matched, and the "
            "stored copy). Nothing was stored: ask the administrator to free space, then upload the file again"))])


def label_check_disk_bytes(evaluation: Evaluation, size: int, *, lines: int | None = None,
                           rows: int | None = None) -> int:
    """About the disk a label file of ``size`` bytes and ``lines`` lines needs beside it while it is checked in
    pieces against ``evaluation`` (its ``rows``, the ids as its copy stores them). Without ``lines`` (an upload
    about to start): as many labels as the evaluation has rows, or as four-byte lines fit in the file if fewer."""
    rows = evaluation.row_count if rows is None else rows
    try:
        with storage.open(evaluation.parquet_path) as handle:
            id_bytes = labels.stored_id_bytes(handle, evaluation.columns["prediction_id"])
    except (OSError, ValueError, IndexError, KeyError):  # its copy unreadable (the check says so): UUID-long ids
        id_bytes = rows * (4 + 36)
    lines = min(size // 4, rows + 1) if lines is None else lines
    return labels.check_disk_bytes(file_bytes=size, labels=lines, rows=rows, id_bytes=id_bytes)


def _bytes_text(count: int) -> str:
    return f"{count / 2**30:,.1f} GB" if count >= 2**30 else f"{count / 2**20:,.1f} MB"


def _labelled_rows(evaluation: Evaluation, batch_ids) -> tuple[np.ndarray, list[str]]:
    """A byte for each row of the evaluation, ``_EARLIER`` where one of the label files ``batch_ids`` labels it;
    and the stored copies of those that hold no rows (stored before rows were), checked by id."""
    id_column, target = evaluation.columns["prediction_id"], evaluation.columns["target"]
    with storage.open(evaluation.parquet_path) as handle:
        taken = np.zeros(batches.row_count(handle), dtype=np.int8)
    legacy = []
    for path in LabelBatch.objects.filter(pk__in=batch_ids).order_by("pk").values_list("parquet_path", flat=True):
        with storage.open(path) as handle:
            names = batches.column_names(handle)
        if not labels.has_rows(names, id_column=id_column, target_column=target):
            legacy.append(path)
            continue
        for rows in _stored_ids(path, labels.ROW_COLUMN):
            taken[_checked_rows(rows.to_numpy(), len(taken), evaluation)] = _EARLIER
    return taken, legacy


def _checked_rows(rows: np.ndarray, count: int, evaluation: Evaluation) -> np.ndarray:
    if len(rows) and (rows.min() < 0 or rows.max() >= count):
        raise ValueError(f"labels of evaluation #{evaluation.pk} were stored for row {int(rows.max())}, but it has "
                         f"{count} rows")
    return rows


def _check_label_pieces(evaluation: Evaluation, path: str, copy: str, *, file_format: str, filename: str,
                        taken: np.ndarray, legacy: list[str]) -> int:
    """Check a label file piece by piece (``evaluation_labels_add_file``) and write its stored copy to ``copy``;
    marks its rows ``_THIS_FILE`` in ``taken``. Returns how many labels it holds.

    The file is read once, each piece parsed and checked as a label file sent alone and kept beside it (as Arrow,
    with its ids put in buckets by ``labels.RowsById``); the evaluation's ids are read once into the same buckets;
    then the pieces are taken again in order, each with the evaluation rows of its ids, checked against the labels
    before it and written to the copy. A piece with problems is parsed again and checked as it was before the
    buckets (``_piece_problems``), so a refusal names the same rows and the first piece with problems wins, whether
    its problems are in its text or in its ids (25 pieces against 50 million rows read them once, not 25 times)."""
    id_column = evaluation.columns["prediction_id"]
    folder = f"{path}.pieces"
    shutil.rmtree(folder, ignore_errors=True)  # left by a worker killed while it checked the same upload
    os.makedirs(folder)
    try:
        with labels.RowsById(folder, evaluation_rows=len(taken)) as join:
            ends, failure = _kept_pieces(evaluation, path, folder, join, file_format=file_format, filename=filename)
            if not ends:  # nothing to check against the evaluation
                raise UploadRejected(failure or [ingest.Problem(None, (), "the file is empty")])
            join.add_evaluation(_stored_ids(evaluation.parquet_path, id_column))
            join.join()
            count, checked_to, writer = 0, 0, None
            try:
                for number, end in enumerate(ends):
                    with pa.OSFile(os.path.join(folder, f"piece-{number}.arrow")) as source:
                        table = pa.ipc.open_file(source).read_all()
                    rows = join.rows(np.load(os.path.join(folder, f"piece-{number}.npy")))
                    if _needs_problems(table.column(id_column), rows, taken, legacy, id_column):
                        problems = _piece_problems(evaluation, path, number, file_format=file_format,
                                                   filename=filename, taken=taken, legacy=legacy)
                        raise UploadRejected([*problems, *_checked_up_to(checked_to)])
                    taken[rows] = _THIS_FILE
                    order = np.argsort(rows, kind="stable")
                    table = table.take(order).append_column(labels.ROW_COLUMN, pa.array(rows[order]))
                    if writer is None:
                        writer = pq.ParquetWriter(copy, table.schema, **ingest.parquet_options(table.schema))
                    elif table.schema != writer.schema:
                        table = _same_types(table, writer.schema, checked_to)
                    writer.write_table(table, row_group_size=ingest.PARQUET_ROW_GROUP_ROWS)
                    count, checked_to = count + len(table), end
            finally:
                if writer is not None:
                    writer.close()
            if failure is not None:
                raise UploadRejected([*failure, *_checked_up_to(checked_to)])
            return count
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _kept_pieces(evaluation: Evaluation, path: str, folder: str, join: labels.RowsById, *, file_format: str,
                 filename: str) -> tuple[list[int], list | None]:
    """Parse the label file a piece at a time, each kept in ``folder`` (its labels as Arrow, its ids' buckets);
    returns the line each kept piece ends on, and the problems of the first piece that does not parse (the pieces
    before it are checked against the evaluation before those are reported: their problems come first)."""
    ends = []
    try:
        with open(path, "rb") as handle:
            for number, piece in enumerate(label_pieces(handle, file_format=file_format,
                                                        max_rows=settings.PORTAL_MAX_ROWS)):
                try:
                    parsed = _parse_labels(piece.data, filename=filename, evaluation=evaluation)
                except UploadRejected as exc:
                    return ends, _shifted(exc.problems, piece.shift)
                table = pa.Table.from_pandas(parsed.df, preserve_index=False).replace_schema_metadata(None)
                table = table.cast(pa.schema([field.with_type(field.type.value_type)
                                              if pa.types.is_dictionary(field.type) else field
                                              for field in table.schema]))
                np.save(os.path.join(folder, f"piece-{number}.npy"),
                        join.add_labels(table.column(evaluation.columns["prediction_id"])))
                with pa.OSFile(os.path.join(folder, f"piece-{number}.arrow"), "wb") as sink, \
                        pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
                ends.append(piece.end)
    except ingest.IngestError as exc:  # a row that never ends (``label_pieces``)
        return ends, list(exc.problems)
    return ends, None


def _needs_problems(ids: pa.ChunkedArray, rows: np.ndarray, taken: np.ndarray, legacy: list[str],
                    id_column: str) -> bool:
    """Whether a piece has an id the evaluation does not have or one labelled before (``_piece_problems`` says
    which)."""
    if (rows < 0).any() or taken[rows].any():
        return True
    if not legacy:
        return False
    index = labels.IdIndex(ids)
    return any((index.positions(batch) >= 0).any() for stored in legacy for batch in _stored_ids(stored, id_column))


def _piece_problems(evaluation: Evaluation, path: str, number: int, *, file_format: str, filename: str,
                    taken: np.ndarray, legacy: list[str]) -> list:
    """The problems of piece ``number`` of a label file, as a label file sent alone finds them, in its lines."""
    id_column = evaluation.columns["prediction_id"]
    with open(path, "rb") as handle:
        piece = next(islice(label_pieces(handle, file_format=file_format, max_rows=settings.PORTAL_MAX_ROWS),
                            number, None))
    parsed = _parse_labels(piece.data, filename=filename, evaluation=evaluation)
    checked = labels.check(parsed, id_column=id_column, evaluation_ids=_stored_ids(evaluation.parquet_path, id_column),
                           labelled_ids=(ids for stored in legacy for ids in _stored_ids(stored, id_column)),
                           evaluation_name=f"evaluation #{evaluation.pk}")
    problems = checked.problems or _again(parsed, checked.rows, taken, id_column)
    if not problems:
        raise RuntimeError(f"piece {number} of a label file of evaluation #{evaluation.pk} was found to have problems "
                           "its own check does not find")
    return _shifted(problems, piece.shift)


def _again(parsed: ingest.ParsedLabels, rows: np.ndarray, taken: np.ndarray, id_column: str) -> list:
    """Labels of rows an earlier label file labels, or an earlier piece of the same file."""
    problems, ids = [], parsed.df[id_column]
    for mark, what in ((_EARLIER, "was labelled by an earlier label file; labels are not replaced (upload the "
                                  "evaluation again to correct them)"),
                       (_THIS_FILE, "appears more than once in this file (each prediction has one label)")):
        again = taken[rows] == mark
        if again.any():
            problems.append(parsed.rows.problem(id_column, again, f"prediction id {ids[again].iloc[0]!r} {what}"))
    return problems


def _shifted(problems, shift: int) -> list:
    return [ingest.Problem(p.column, tuple(row + shift for row in p.rows), p.message) for p in problems]


def _checked_up_to(line: int) -> list:
    if not line:
        return []
    return [ingest.Problem(None, (), f"the lines up to {line:,} were checked and had no problem; the file was not "
                                     "checked past the problems above")]


def _same_types(table: pa.Table, schema: pa.Schema, checked_to: int) -> pa.Table:
    """A piece's labels in the types of the first piece's (whole numbers in one, decimals in another)."""
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UploadRejected([ingest.Problem(None, (), (
            f"the labels after line {checked_to:,} have other types than those before them ({table.schema} against "
            f"{schema})")), *_checked_up_to(checked_to)]) from None


def _require_unlabelled_since(evaluation: Evaluation, seen, taken: np.ndarray) -> None:
    """Refuse a label file whose rows a label file stored while it was checked labels too (under the lock)."""
    for batch in evaluation.label_batches.exclude(pk__in=seen).order_by("pk"):
        both, first = 0, None
        for rows in _stored_ids(batch.parquet_path, labels.ROW_COLUMN):
            rows = _checked_rows(rows.to_numpy(), len(taken), evaluation)
            shared = rows[taken[rows] == _THIS_FILE]
            both, first = both + len(shared), first if first is not None or not len(shared) else int(shared.min())
        if both:
            raise UploadRejected([ingest.Problem(None, (), (
                f"label file {batch.filename!r}, stored while this one was checked, labels {both:,} of the same "
                f"predictions (evaluation row {first + 1:,} among them); labels are not replaced. Send this file "
                "again without them"))])


def windows_refresh_for(*, evaluation_id: int) -> int:
    """Recompute the stored metric windows that a late-labelled evaluation overlaps. Returns how many.

    Called once the evaluation is computed again with its new labels; windows not computed yet are left to
    the beat schedule (``windows_due``). A window that fails is logged and the others go on.
    """
    evaluation = Evaluation.objects.select_related("version__model").get(pk=evaluation_id)
    if (evaluation.kind != Evaluation.Kind.PRODUCTION or not evaluation.label_batches.exists()
            or evaluation.period_start is None):
        return 0
    windows = MetricWindow.objects.filter(version=evaluation.version, window_start__lte=evaluation.period_end,
                                          window_end__gt=evaluation.period_start).order_by("window_start")
    bounds: dict[str, list[tuple[datetime, datetime]]] = {}
    for window in windows:
        bounds.setdefault(window.cadence, []).append((window.window_start, window.window_end))
    refreshed = 0
    for cadence, spans in bounds.items():  # one pass over the files per cadence (a tier change leaves two)
        try:
            refreshed += sum(1 for window in windows_compute(version=evaluation.version, cadence=cadence,
                                                             bounds=spans) if window)
        except OperationalError:
            raise
        except Exception:
            logger.exception("the %s windows of %s could not be recomputed after new labels", cadence,
                             evaluation.version)
    return refreshed


# --- Champion -------------------------------------------------------------------------------------------------

def champion_of(model: MLModel) -> ModelVersion | None:
    """A model's champion: its version in production. ``champion_promote`` keeps it the only one there;
    if an admin moved several versions to production by hand, the newest of them is the champion."""
    return model.versions.filter(stage=Stage.PRODUCTION).order_by("-created_at", "-pk").first()


def champion_promote(*, actor, model: MLModel, challenger: ModelVersion,
                     expected_champion: ModelVersion | None) -> tuple[ModelVersion, list[ModelVersion]]:
    """Make the challenger the model's champion: its one version in production. Returns (champion, replaced).

    ``expected_champion`` is the champion the person compared the challenger with; if another promotion
    changed the champion since, nothing happens and the person is asked to compare again (409). The model
    row lock makes parallel promotions of one model take turns, so exactly one of them wins. The
    challenger passes the production gate (``version_transition``); every other production version goes
    back to staging, so a rollback is one promotion away. Their deployment records are left as they are:
    they say where a version really runs, which the portal does not switch; retire them when traffic moved.
    """
    if challenger.model_id != model.pk:
        raise DomainError(f"{challenger} is not a version of {model}.", field="challenger")
    with transaction.atomic():
        MLModel.objects.select_for_update().filter(pk=model.pk).values_list("pk", flat=True).first()
        # The versions this may move, locked before any audit event takes the chain's lock (see _lock_alerts_of).
        list(model.versions.select_for_update().filter(Q(stage=Stage.PRODUCTION) | Q(pk=challenger.pk))
             .order_by("pk").values_list("pk", flat=True))
        champion = champion_of(model)
        if getattr(champion, "pk", None) != getattr(expected_champion, "pk", None):
            now = f"{champion} is the champion now" if champion else "the model has no champion now"
            raise ConflictError(f"The champion changed since you compared: {now}. Nothing was promoted; "
                                "compare the challenger with the current champion and promote again.")
        reason = (f"Promoted over champion {champion.version} after a champion-versus-challenger comparison."
                  if champion else "Promoted after a champion-versus-challenger comparison.")
        promoted = inventory_services.version_transition(actor=actor, version=challenger,
                                                         to_stage=Stage.PRODUCTION, reason=reason)
        replaced = list(model.versions.filter(stage=Stage.PRODUCTION).exclude(pk=challenger.pk).order_by("pk"))
        for version in replaced:
            inventory_services.version_transition(
                actor=actor, version=version, to_stage=Stage.STAGING,
                reason=f"Replaced as champion by {challenger.version}; kept in staging for a rollback.")
    return promoted, replaced


# --- Windows ------------------------------------------------------------------------------------------------

CADENCE_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}


def window_compute(*, version: ModelVersion, cadence: str, start: datetime, end: datetime) -> MetricWindow | None:
    """Metrics of the production rows of [start, end), read in batches. Re-running replaces the window's row."""
    [window] = windows_compute(version=version, cadence=cadence, bounds=[(start, end)])
    return window


def windows_compute(*, version: ModelVersion, cadence: str,
                    bounds: list[tuple[datetime, datetime]]) -> list[MetricWindow | None]:
    """``window_compute`` of each [start, end) of ``bounds``, in one pass over the evaluations' files: each is
    opened (and one registered by reference hashed) once, not once per window (``batches.compute_metrics_by_period``).

    A window counts the done production evaluations whose period overlaps it, as it would alone; one without
    rows stores nothing (None). The windows are stored one after the other, in the order of ``bounds``.
    """
    if not bounds:
        return []
    evaluations = list(Evaluation.objects.filter(version=version, kind=Evaluation.Kind.PRODUCTION,
                                                 status=Evaluation.Status.DONE,
                                                 period_start__lt=max(end for _, end in bounds),
                                                 period_end__gte=min(start for start, _ in bounds))
                       .select_related("version__model").order_by("pk"))
    overlapping = [[evaluation for evaluation in evaluations
                    if evaluation.period_start < end and evaluation.period_end >= start] for start, end in bounds]
    counted = _windows_metrics(version, bounds=bounds, overlapping=overlapping)
    # The model's governance state is recomputed once, after the last window, not once per window: measured on
    # PostgreSQL, 11 recomputations were 0.61 s of a version's 0.93 s.
    with governance_deferred(cause="monitoring results"):
        return [_window_store(version=version, cadence=cadence, start=start, end=end, result=result, rows=rows)
                if rows else None for (start, end), (result, rows) in zip(bounds, counted, strict=True)]


def _windows_metrics(version: ModelVersion, *, bounds: list[tuple[datetime, datetime]],
                     overlapping: list[list[Evaluation]]) -> list[tuple[dict | None, int]]:
    """(metrics, rows) of each window over its overlapping evaluations ((None, 0) for a window without any)."""
    used = sorted({evaluation.pk: evaluation for window in overlapping for evaluation in window}.values(),
                  key=lambda evaluation: evaluation.pk)
    if not used:
        return [(None, 0)] * len(bounds)
    position = {evaluation.pk: index for index, evaluation in enumerate(used)}
    periods = [batches.Period(start, end, window[0].columns, tuple(position[e.pk] for e in window))
               for (start, end), window in zip(bounds, overlapping, strict=True) if window]
    model = used[0].version.model
    with ExitStack() as files:
        sources = [files.enter_context(_evaluation_file(evaluation)) for evaluation in used]
        reference = files.enter_context(reference_file(version))
        results = iter(batches.compute_metrics_by_period(
            sources, task_type=model.task_type, periods=periods, reference=reference,
            reference_groups=model.fairness_reference_groups, late_labels=[partial(_late_labels, e) for e in used]))
    return [next(results) if window else (None, 0) for window in overlapping]


def _window_store(*, version: ModelVersion, cadence: str, start: datetime, end: datetime, result: dict,
                  rows: int) -> MetricWindow:
    with transaction.atomic():
        _lock_alerts_of(version)  # two beat schedulers computing the same window take turns; the second replaces
        window, _ = MetricWindow.objects.update_or_create(
            version=version, cadence=cadence, window_start=start,
            defaults={"window_end": end, "row_count": rows, "metrics": result})
        window.health = thresholds_check(version=version, metrics=result, window=window)
        window.save(update_fields=["health"])
    return window


def _cadence_of(version: ModelVersion) -> str:
    obligations = obligations_for(version.model)
    cadence = obligations.policy.monitoring_cadence if obligations.policy else "monthly"
    if cadence not in CADENCE_DAYS:
        # Only a policy written past its validation (e.g. by SQL) gets here: watch daily, the strictest.
        logger.warning("policy of %s has an unknown monitoring cadence %r; computing daily windows",
                       version.model, cadence)
        cadence = "daily"
    return cadence


def _versions_with_windows():
    return ModelVersion.objects.filter(stage=Stage.PRODUCTION, evaluations__kind="production").distinct()


def version_windows_due(*, version: ModelVersion, now: datetime, history: int = 12) -> int:
    """One production version's last ``history`` complete windows at its tier's cadence; returns how many had rows.

    Safe to run twice or in parallel: each window replaces its own row under the version's lock.
    """
    cadence = _cadence_of(version)
    length = timedelta(days=CADENCE_DAYS[cadence])
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    bounds = [(end - (back + 1) * length, end - back * length) for back in range(history)]
    return sum(window is not None for window in windows_compute(version=version, cadence=cadence, bounds=bounds))


def windows_due(*, now: datetime | None = None, history: int = 12) -> int:
    """Every production version's windows, one after the other, in this process (the fan-out's sequential twin).

    A version whose windows fail is logged and skipped; the others are computed.
    """
    now = now or timezone.now()
    computed = 0
    for version in _versions_with_windows().select_related("model"):
        try:
            computed += version_windows_due(version=version, now=now, history=history)
        except OperationalError:
            raise  # the database is down: the next run starts over
        except Exception:
            # One version's failure (unreadable file, a policy the thresholds cannot apply) must not
            # leave every other production model without its windows.
            logger.exception("metric windows of %s failed; the other versions go on", version)
    return computed


def version_windows_task(*, version_id: int, now: datetime) -> int:
    """Task body: one version's windows, unless it left production since the fan-out (then nothing to do)."""
    version = _versions_with_windows().select_related("model").filter(pk=version_id).first()
    if version is None:
        return 0
    try:
        return version_windows_due(version=version, now=now)
    except OperationalError:
        raise  # the task retries with back-off
    except Exception:
        logger.exception("metric windows of %s failed", version)
        return 0


def windows_fan_out(*, now: datetime | None = None) -> int:
    """Beat task body: one task per production version on the heavy queue, so every worker that consumes it
    (on any machine) takes a share of the portfolio. Returns how many versions were queued.

    All tasks share one ``now``, so a portfolio's windows end on the same day however long the queue is.
    """
    from apps.monitoring.tasks import compute_version_windows

    now = now or timezone.now()
    version_ids = list(_versions_with_windows().order_by("pk").values_list("pk", flat=True))
    for version_id in version_ids:
        compute_version_windows.apply_async(args=[version_id, now.isoformat()])
    return len(version_ids)


# --- Alerts ---------------------------------------------------------------------------------------------------

def _alert_upsert(*, version, finding: thresholds.Finding, evaluation, window):
    """Create the alert, or refresh the unresolved one for the same metric. Returns (alert, is_news)."""
    alert = (Alert.objects.select_for_update().filter(version=version, metric=finding.metric)
             .exclude(status=Alert.Status.RESOLVED).first())
    if alert is None:
        alert = Alert.objects.create(model=version.model, version=version, metric=finding.metric, value=finding.value,
                                     threshold=finding.rule, severity=finding.severity, message=finding.message,
                                     evaluation=evaluation, window=window,
                                     breach_at=timezone.now() if finding.severity == "breach" else None)
        audit_record(actor=None, action=f"alert.raised_{finding.severity}", obj=alert,
                     changes={"value": [None, finding.value]}, reason=finding.message)
        return alert, True
    escalated = alert.severity == "warning" and finding.severity == "breach"
    if alert.severity == "breach" and finding.severity == "warning":
        # Severity never drops while the alert is unresolved; keep the breach's evidence, note the latest window.
        alert.window, alert.evaluation = window or alert.window, evaluation or alert.evaluation
        alert.save(update_fields=["window", "evaluation"])
        return alert, False
    alert.value, alert.threshold, alert.message = finding.value, finding.rule, finding.message
    if escalated:
        alert.severity, alert.breach_at = "breach", timezone.now()
        audit_record(actor=None, action="alert.escalated", obj=alert, changes={"severity": ["warning", "breach"]},
                     reason=finding.message)
    alert.window, alert.evaluation = window or alert.window, evaluation or alert.evaluation
    alert.save(update_fields=["value", "threshold", "message", "severity", "breach_at", "window", "evaluation"])
    return alert, escalated


@transaction.atomic
def thresholds_check(*, version, metrics: dict, evaluation=None, window=None) -> str:
    """Raise or refresh alerts for production results; return the health of these results.

    A new or escalated alert notifies the model's owners. On a tier whose policy suspends approvals on a breach,
    a breach also opens a re-assessment pre-filled with its evidence (and the governance state suspends the
    approval); lower tiers get the alert only. The model's governance state is recomputed either way.
    """
    obligations = obligations_for(version.model)
    found = thresholds.findings(metrics, obligations.thresholds.rules, version.validation_metrics)
    if evaluation is not None and evaluation.kind != Evaluation.Kind.PRODUCTION:
        return thresholds.health_of(found)  # validation and challenger results are shown, not alerted on
    suspends = bool(obligations.policy and obligations.policy.suspend_on_breach)
    for finding in found:
        alert, is_news = _alert_upsert(version=version, finding=finding, evaluation=evaluation, window=window)
        if is_news:
            notify_breach(alert)
            if alert.severity == "breach" and suspends:
                evidence = f"{finding.metric} on version {version.version}: {finding.message}"
                reassessment_open_for_breach(model=version.model, evidence=evidence,
                                             url=reverse("monitoring:alert-detail", args=[alert.pk]))
    governance_changed(model_ids=[version.model_id], cause="monitoring results")
    return thresholds.health_of(found)


def _alert_transition(*, actor, alert: Alert, status: str) -> Alert:
    require(actor, Capability.TRIAGE_ALERT)
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        order = [Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED, Alert.Status.RESOLVED]
        if order.index(status) <= order.index(alert.status):
            raise ConflictError(f"The alert is already {alert.get_status_display().lower()}.")
        before = alert.status
        alert.status = status
        now = timezone.now()
        if status == Alert.Status.ACKNOWLEDGED:
            alert.acknowledged_by, alert.acknowledged_at = actor, now
        else:
            alert.resolved_by, alert.resolved_at = actor, now
        alert.save()
        audit_record(actor=actor, action=f"alert.{status}", obj=alert, changes={"status": [before, status]})
        governance_changed(model_ids=[alert.model_id], actor=actor, cause=f"alert {status}")
    return alert


def alert_acknowledge(*, actor, alert: Alert) -> Alert:
    return _alert_transition(actor=actor, alert=alert, status=Alert.Status.ACKNOWLEDGED)


def alert_resolve(*, actor, alert: Alert) -> Alert:
    return _alert_transition(actor=actor, alert=alert, status=Alert.Status.RESOLVED)


def notify_breach(alert: Alert) -> None:
    model = alert.model
    recipients = {model.accountable_owner, *model.technical_owners.all()}
    for user in recipients:
        notify(recipient=user, subject=f"{alert.get_severity_display()} on {model}: {alert.metric}",
               body=alert.message, url=alert.get_absolute_url(), kind="alert",
               action="Acknowledge the alert, then fix or accept the risk")
