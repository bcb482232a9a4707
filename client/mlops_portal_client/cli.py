"""``mlops-portal``: the portal from a shell or a CI job. Prints the API's JSON answer.

``--url`` and ``--token`` (or ``PORTAL_URL`` and ``PORTAL_TOKEN``) go before or after the command. Exit status:
0 done, 1 the portal refused (or the evaluation failed, or ``governance --check`` found it not clear),
2 a usage error or an unreadable file, 3 the portal could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
from collections.abc import Sequence
from typing import Any

from mlops_portal_client.client import DEFAULT_CHUNK_THRESHOLD, LABELS_CHUNK_THRESHOLD, PortalClient, PortalError
from mlops_portal_client.parts import DEFAULT_CONCURRENCY

DEFAULT_URL = "http://127.0.0.1:8000"
OK, REFUSED, USAGE, UNREACHABLE = 0, 1, 2, 3


def _connection_options() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command is not reset by the command's parser.
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--url", default=argparse.SUPPRESS,
                         help=f"the portal's address (or PORTAL_URL; default {DEFAULT_URL})")
    options.add_argument("--token", default=argparse.SUPPRESS,
                         help="API token (or PORTAL_TOKEN); create one on your account page in the portal")
    options.add_argument("--field", default=argparse.SUPPRESS, metavar="NAME",
                         help="print only this field of the answer (dots reach inside: governance.status), "
                              "e.g. VERSION=$(mlops-portal register-version ... --field id)")
    return options


def _json_argument(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"roc_auc\": 0.91}'")
    return value


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    connection = _connection_options()
    parser = argparse.ArgumentParser(prog="mlops-portal", parents=[connection],
                                     description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[connection])

    model = command("register-model", "register a model")
    model.add_argument("--name", required=True)
    model.add_argument("--team", required=True, help="slug of the owning team")
    model.add_argument("--use-case", default="",
                       help="the approved use case it comes from (UC-12 or 12); the portal requires one by default")
    model.add_argument("--purpose", default="", help="what the model is for (default: the use case's)")
    model.add_argument("--owner", default="", help="username of the accountable owner (default: the use case's)")
    model.add_argument("--intended-use", default="")
    model.add_argument("--exposure", help="internal, customer_facing or public")
    model.add_argument("--task-type", help="binary, multiclass or regression")
    model.add_argument("--tags", type=_comma_list, default=[], help="comma-separated tag names")

    version = command("register-version", "register a version of a model")
    version.add_argument("--model", required=True, help="the model's slug")
    version.add_argument("--version", required=True, help="the version's label, e.g. 1.2.0")
    version.add_argument("--description", default="")
    version.add_argument("--algorithm", default="")
    version.add_argument("--framework", default="")
    version.add_argument("--artifact-uri", default="")
    version.add_argument("--artifact-sha256", default="")
    version.add_argument("--metrics", type=_json_argument, help='validation metrics, e.g. \'{"roc_auc": 0.91}\'')
    version.add_argument("--environment", type=_json_argument,
                         help='validated environment, e.g. \'{"python": "3.11.7", "packages": {"scikit-learn": '
                              '"1.6.1"}}\'')

    upload = command("upload", "upload evaluation results (CSV, JSON Lines or Parquet)")
    upload.add_argument("--version", type=int, required=True, help="model version id")
    upload.add_argument("--kind", choices=["validation", "production"], default="validation")
    upload.add_argument("--sensitive-features", type=_comma_list, default=[], help="comma-separated column names")
    upload.add_argument("--positive-label", default="1")
    for column, default in (("target", "y_true"), ("prediction", "y_pred"), ("score", "y_score"),
                            ("timestamp", "timestamp")):
        upload.add_argument(f"--{column}-column", default=default)
    upload.add_argument("--prediction-id-column", default="prediction_id",
                        help="production files without the target column: the column of unique ids that labels "
                             "are joined to later (add-labels)")
    upload.add_argument("--idempotency-key", help="the same key on a retry uploads once")
    upload.add_argument("--wait", action="store_true", help="wait for the metrics and print them")
    upload.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    _part_options(upload)
    upload.add_argument("file")

    by_reference = command("register-evaluation", "register a Parquet data set the portal reads where it is "
                                                   "(a path under its PORTAL_DATA_ROOTS, or an s3:// URL in its "
                                                   "PORTAL_DATA_BUCKETS)")
    by_reference.add_argument("--version", type=int, required=True, help="model version id")
    by_reference.add_argument("--sha256", help="the file's SHA-256 (default: computed from the file at PATH here; "
                                               "required for an s3:// URL)")
    by_reference.add_argument("--kind", choices=["validation", "production"], default="validation")
    by_reference.add_argument("--sensitive-features", type=_comma_list, default=[],
                              help="comma-separated column names")
    by_reference.add_argument("--positive-label", default="1")
    for column, default in (("target", "y_true"), ("prediction", "y_pred"), ("score", "y_score"),
                            ("timestamp", "timestamp")):
        by_reference.add_argument(f"--{column}-column", default=default)
    by_reference.add_argument("--wait", action="store_true", help="wait for the metrics and print them")
    by_reference.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
    by_reference.add_argument("path", help="absolute path of the Parquet file, as the portal's worker sees it, "
                                           "or s3://bucket/key")

    reference = command("reference", "upload a version's reference (training) features")
    reference.add_argument("--version", type=int, required=True, help="model version id")
    _part_options(reference)
    reference.add_argument("file")

    labels = command("add-labels", "add the outcomes of a production evaluation's predictions (late labels)")
    labels.add_argument("evaluation_id", type=int)
    labels.add_argument("file", help="CSV, JSON Lines or Parquet: the prediction-id column and the target column")
    _part_options(labels, LABELS_CHUNK_THRESHOLD, "at most the rows the portal takes in one request")
    labels.add_argument("--wait", action="store_true", help="wait for the recomputed metrics and print them")
    labels.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")

    status = command("status", "show an evaluation")
    status.add_argument("evaluation_id", type=int)

    wait = command("wait", "wait until an evaluation is computed, then show it")
    wait.add_argument("evaluation_id", type=int)
    wait.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")

    governance = command("governance", "show the stored governance state of a model or a version")
    target = governance.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", help="the model's slug")
    target.add_argument("--version", type=int, help="model version id")
    governance.add_argument("--check", action="store_true",
                            help="exit 1 unless the version's production gate is open (a model: unless compliant)")
    return parser


def _part_options(command: argparse.ArgumentParser, threshold: int = DEFAULT_CHUNK_THRESHOLD,
                  why: str = "the portal's part size") -> None:
    command.add_argument("--chunk-threshold-mb", type=float, default=threshold / 2**20,
                         help=f"files larger than this go in parts, resumably (default {threshold / 2**20:g}, {why})")
    command.add_argument("--resume", metavar="UPLOAD_ID",
                         help="go on with this upload in parts (by default the state file beside the file says)")
    command.add_argument("--concurrency", type=_at_least_one, default=DEFAULT_CONCURRENCY, metavar="N",
                         help=f"parts sent at once, each on its own connection; memory holds N parts "
                              f"(default {DEFAULT_CONCURRENCY})")


def _drop_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in (None, "", [])}


def run(client: PortalClient, args: argparse.Namespace) -> tuple[dict, int]:
    """The command's answer and exit status."""
    if args.command == "register-model":
        return client.register_model(name=args.name, team=args.team, **_drop_empty({
            "use_case": args.use_case, "purpose": args.purpose, "accountable_owner": args.owner,
            "intended_use": args.intended_use, "exposure": args.exposure, "task_type": args.task_type,
            "tags": args.tags})), OK
    if args.command == "register-version":
        return client.register_version(model=args.model, version=args.version, **_drop_empty({
            "description": args.description, "algorithm": args.algorithm, "framework": args.framework,
            "artifact_uri": args.artifact_uri, "artifact_sha256": args.artifact_sha256,
            "validation_metrics": args.metrics, "validated_environment": args.environment})), OK
    if args.command == "upload":
        result = client.upload_evaluation(
            args.version, args.file, kind=args.kind, sensitive_features=args.sensitive_features,
            positive_label=args.positive_label, target_column=args.target_column,
            prediction_column=args.prediction_column, score_column=args.score_column,
            timestamp_column=args.timestamp_column, idempotency_key=args.idempotency_key,
            prediction_id_column=args.prediction_id_column, chunk_threshold=_threshold(args), resume=args.resume,
            concurrency=args.concurrency)
        return _evaluation_outcome(client.wait(result["id"], timeout=args.timeout) if args.wait else result)
    if args.command == "register-evaluation":
        result = client.register_evaluation(
            args.version, args.path, sha256=args.sha256, kind=args.kind, sensitive_features=args.sensitive_features,
            positive_label=args.positive_label, target_column=args.target_column,
            prediction_column=args.prediction_column, score_column=args.score_column,
            timestamp_column=args.timestamp_column)
        return _evaluation_outcome(client.wait(result["id"], timeout=args.timeout) if args.wait else result)
    if args.command == "add-labels":
        batch = client.add_labels(args.evaluation_id, args.file, chunk_threshold=_threshold(args), resume=args.resume,
                                  concurrency=args.concurrency)
        return _evaluation_outcome(client.wait(args.evaluation_id, timeout=args.timeout)) if args.wait else (batch, OK)
    if args.command == "reference":
        return client.upload_reference(args.version, args.file, chunk_threshold=_threshold(args),
                                       resume=args.resume, concurrency=args.concurrency), OK
    if args.command == "status":
        return _evaluation_outcome(client.evaluation(args.evaluation_id))
    if args.command == "wait":
        evaluation = client.wait(args.evaluation_id, timeout=args.timeout)
        return evaluation, OK if evaluation["status"] == "done" else REFUSED
    state = client.governance(model=args.model, version=args.version)
    clear = state.get("gate_open") if args.version is not None else state.get("status") == "compliant"
    return state, REFUSED if args.check and not clear else OK


def _threshold(args: argparse.Namespace) -> int:
    return int(args.chunk_threshold_mb * 2**20)


def _evaluation_outcome(evaluation: dict) -> tuple[dict, int]:
    return evaluation, REFUSED if evaluation.get("status") == "failed" else OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    url = getattr(args, "url", None) or os.environ.get("PORTAL_URL") or DEFAULT_URL
    token = getattr(args, "token", None) or os.environ.get("PORTAL_TOKEN")
    if not token:
        parser.error("--token (or PORTAL_TOKEN) is required")
    if args.command == "register-evaluation" and args.path.startswith("s3://") and not args.sha256:
        parser.error("--sha256 is required for an s3:// URL: this command cannot read the object to hash it")
    try:
        client = PortalClient(url, token)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        answer, status = run(client, args)
    except PortalError as exc:
        print(exc, file=sys.stderr)
        return REFUSED
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        print(f"Cannot reach the portal at {url}: {exc}", file=sys.stderr)
        return UNREACHABLE
    except OSError as exc:  # the file to upload: missing, a directory, unreadable
        print(f"Cannot read {exc.filename or 'the file'}: {exc.strerror or exc}", file=sys.stderr)
        return USAGE
    field = getattr(args, "field", None)
    if field is None:
        print(json.dumps(answer, indent=2))
        return status
    try:
        value = pick(answer, field)
    except KeyError:
        print(f"The answer has no field {field!r}; it has {', '.join(sorted(answer))}.", file=sys.stderr)
        return USAGE
    print(value if isinstance(value, str) else json.dumps(value))
    return status


def pick(answer: dict, field: str) -> Any:
    """``answer["a"]["b"]`` for ``a.b``; KeyError when a step is missing."""
    value: Any = answer
    for step in field.split("."):
        if not isinstance(value, dict) or step not in value:
            raise KeyError(field)
        value = value[step]
    return value

