"""Large files in parts (monitoring/uploads.py): start, send parts, complete, poll; the person's own uploads only."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from apps.core.roles import Capability
from apps.core.validators import validate_single_line
from apps.inventory.models import ModelVersion
from apps.monitoring import selectors, uploads
from apps.monitoring.api.serializers import PREDICTION_ID_HELP, EvaluationOptionsSerializer, ProblemSerializer
from apps.monitoring.models import Evaluation, UploadSession

PART_SHA256 = OpenApiParameter("X-Part-SHA256", str, OpenApiParameter.HEADER, required=True,
                               description="The part's SHA-256 in hexadecimal; a part that does not match it is "
                                           "refused (400) and not stored.")


class UploadStartSerializer(EvaluationOptionsSerializer):
    """What an upload of a large file declares before its first byte: the file, and the evaluation's options."""

    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.select_related("model"))
    filename = serializers.CharField(max_length=255, validators=[validate_single_line])
    size = serializers.IntegerField(min_value=1, help_text="The whole file's size in bytes.")
    sha256 = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="The whole file's SHA-256 in hexadecimal, checked once assembled; may "
                                             "be left out and given when completing the upload instead (a client "
                                             "can then hash the file while it sends it).")
    purpose = serializers.ChoiceField(choices=UploadSession.Purpose.choices, default="evaluation",
                                      help_text="evaluation (results), reference (a version's training features) or "
                                                "labels (late labels of a production evaluation: `evaluation`)")
    evaluation = serializers.PrimaryKeyRelatedField(
        queryset=Evaluation.objects.select_related("version"), required=False, allow_null=True, default=None,
        help_text="purpose labels: the production evaluation of model_version the labels are for (a file of "
                  "prediction ids and targets, as POST /api/v1/evaluations/{id}/labels/ takes, of any length)")
    # Here rather than in the options: an evaluation registered by reference always has its target.
    prediction_id_column = serializers.CharField(
        required=False, default="prediction_id", validators=[validate_single_line], help_text=PREDICTION_ID_HELP)


class UploadCompleteSerializer(serializers.Serializer):
    sha256 = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="The whole file's SHA-256 in hexadecimal: required if the upload "
                                             "started without it, the same one otherwise.")


class UploadSessionSerializer(serializers.ModelSerializer):
    model_version = serializers.PrimaryKeyRelatedField(source="version", read_only=True)
    size = serializers.IntegerField(source="size_bytes", read_only=True)
    parts = serializers.IntegerField(source="part_count", read_only=True, help_text="How many parts to send.")
    received = serializers.SerializerMethodField(help_text="Numbers of the parts stored so far.")
    missing = serializers.SerializerMethodField(help_text="Numbers of the parts still to send.")
    evaluation = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                    help_text="The evaluation made from the file (late labels: the one "
                                                              "labelled), once complete.")
    reference = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    label_batch = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                     help_text="Late labels: the label file stored, once complete "
                                                               "(the evaluation is recomputed with it).")
    problems = ProblemSerializer(many=True, read_only=True, help_text="Why a rejected file was refused.")
    status_note = serializers.SerializerMethodField(
        help_text="Why an upload being checked is not moving (its worker died: another takes it over); empty while "
                  "all is well.")
    attempts = serializers.IntegerField(
        read_only=True, help_text="How many times a worker started checking the completed file; one whose workers "
                                  "died PORTAL_TASK_MAX_ATTEMPTS times is rejected.")
    urls = serializers.SerializerMethodField()

    class Meta:
        model = UploadSession
        fields = ["id", "model_version", "purpose", "filename", "size", "sha256", "part_size", "parts", "state",
                  "status_note", "attempts", "received", "missing", "options", "evaluation", "reference",
                  "label_batch", "problems", "error", "created_at", "expires_at", "finished_at", "urls"]
        read_only_fields = fields

    def get_status_note(self, session) -> str:
        return selectors.upload_status_note(session)

    def get_received(self, session) -> list[int]:
        return sorted(int(n) for n in session.parts)

    def get_missing(self, session) -> list[int]:
        return uploads.missing_parts(session)

    def get_urls(self, session) -> dict[str, str]:
        detail = reverse("upload-detail", kwargs={"pk": session.pk})
        return {"self": detail, "part": f"{detail}parts/{{number}}/", "complete": f"{detail}complete/"}


INVALID = OpenApiResponse(description='A field is invalid: `{"<field>": ["message"]}`; nothing was stored.')
NOT_OPEN = OpenApiResponse(description="The upload is no longer open (complete, rejected, aborted or expired).")


@extend_schema_view(
    retrieve=extend_schema(summary="An upload's state and the parts received (to resume); once complete, the "
                                   "evaluation (or reference data) made from it, or the problems that refused it"),
    destroy=extend_schema(summary="Abort an open upload and delete its parts", responses={204: None, 409: NOT_OPEN}),
)
class UploadViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Files too large for one request: ``POST`` declares it, each part is ``PUT`` alone, ``complete`` hands it to
    a worker. Only the person who started an upload sees it; anyone else gets 404."""

    serializer_class = UploadSessionSerializer
    parser_classes = [JSONParser]
    read_capability = Capability.UPLOAD_EVALUATION
    write_capability = Capability.UPLOAD_EVALUATION
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        return uploads.upload_sessions_for(self.request.user)

    @extend_schema(summary="Start an upload in parts of a file too large for one request",
                   request=UploadStartSerializer,
                   responses={201: UploadSessionSerializer, 400: INVALID,
                              409: OpenApiResponse(description="The model version is retired, the person already "
                                                               "has PORTAL_MAX_OPEN_UPLOADS uploads open, or (labels) "
                                                               "the evaluation was uploaded with its outcomes."),
                              413: OpenApiResponse(description="The file is over PORTAL_MAX_LARGE_UPLOAD_GB."),
                              507: OpenApiResponse(description="The storage's disk has no room for the file while it "
                                                               "is checked (about 2.7 times its size), counting "
                                                               "what the uploads already open still need.")})
    def create(self, request):
        body = UploadStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        session = uploads.upload_start(
            actor=request.user, version=data["model_version"], filename=data["filename"], size=data["size"],
            sha256=data["sha256"], purpose=data["purpose"], evaluation=data["evaluation"],
            options={"kind": data["kind"], "sensitive_features": data["sensitive_features"],
                     "positive_label": data["positive_label"], "prediction_id_column": data["prediction_id_column"],
                     "columns": {"target": data["target_column"], "prediction": data["prediction_column"],
                                 "score": data["score_column"], "timestamp": data["timestamp_column"]}})
        response = Response(UploadSessionSerializer(session).data, status=status.HTTP_201_CREATED)
        response["Location"] = reverse("upload-detail", kwargs={"pk": session.pk})
        return response

    @extend_schema(summary="Send one part (raw bytes; every part but the last has part_size bytes); sending a "
                           "part again replaces it",
                   description="Parts may be sent in any order and several at once. A part refused (400, 413) "
                               "leaves an earlier good copy of it as it was.",
                   request={"application/octet-stream": OpenApiTypes.BINARY}, parameters=[PART_SHA256],
                   responses={200: UploadSessionSerializer,
                              400: OpenApiResponse(description="No such part number, a size other than the "
                                                               "part's, or a SHA-256 other than X-Part-SHA256; "
                                                               "nothing stored."),
                              409: NOT_OPEN,
                              413: OpenApiResponse(description="The body is longer than the part; nothing stored."),
                              507: OpenApiResponse(description="The disk filled up while the part was written; "
                                                               "nothing stored.")})
    @action(detail=True, methods=["put"], url_path=r"parts/(?P<number>[0-9]{1,9})", url_name="part")
    def part(self, request, pk=None, number=None):
        session = self.get_object()
        length = request.META.get("CONTENT_LENGTH")
        # The body is read here in blocks, never through request.data: a parser would hold it whole.
        stream = request.stream
        session = uploads.upload_part_put(
            actor=request.user, session=session, number=int(number), stream=stream if stream is not None else _EMPTY,
            declared_length=int(length) if length and length.isdigit() else None,
            part_sha256=request.headers.get("X-Part-SHA256", ""))
        return Response(UploadSessionSerializer(session).data)

    @extend_schema(summary="Complete an upload: a worker assembles the parts, verifies the file's SHA-256 and checks "
                           "it; poll the upload until it names its evaluation (or its problems)",
                   request=UploadCompleteSerializer,
                   responses={202: UploadSessionSerializer,
                              400: OpenApiResponse(description="sha256 is missing (the upload started without it), "
                                                               "malformed, or not the one declared at the start."),
                              409: OpenApiResponse(description="Parts are missing, or the upload is no longer open.")})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        body = UploadCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        session = uploads.upload_complete(actor=request.user, session=self.get_object(),
                                          sha256=body.validated_data["sha256"])
        return Response(UploadSessionSerializer(session).data, status=status.HTTP_202_ACCEPTED)

    def destroy(self, request, *args, **kwargs):
        uploads.upload_abort(actor=request.user, session=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _Empty:
    """A request without a body, as a stream."""

    @staticmethod
    def read(size: int = -1) -> bytes:
        return b""


_EMPTY = _Empty()
