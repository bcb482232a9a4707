"""Frameworks as data: a framework, its published versions and their controls; and each model's classification.

A version's controls are frozen once it is published: findings, documents and evaluations point at a control
row of one version, so a new version (a draft, copied from the last and then edited) never rewrites what was
recorded against an older one. Publishing a draft retires the version it replaces.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.compliance import evaluation as ev
from apps.compliance.models_intake import UseCase  # noqa: F401  (Django finds an app's models here)
from apps.core.models import TimeStampedModel
from apps.core.validators import validate_single_line
from apps.inventory.models import MLModel, ModelVersion


class Framework(TimeStampedModel):
    """A body of requirements people are audited against (the EU AI Act, NIST AI RMF, ...)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=160, validators=[validate_single_line])
    description = models.TextField(blank=True, help_text="What it is and whom it binds, in our own words.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class FrameworkVersion(TimeStampedModel):
    """One edition of a framework. Only a draft's controls change; at most one version is published (in force)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (editable)"
        PUBLISHED = "published", "Published (in force)"
        RETIRED = "retired", "Retired (kept for the records made against it)"

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=40, validators=[validate_single_line],
                               help_text="The edition of the source, e.g. '2024/1689' or '1.0'.")
    source = models.CharField(max_length=300, blank=True, validators=[validate_single_line],
                              help_text="The official text it summarises (title and identifier).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["framework__order", "framework__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "version"], name="one_framework_version_label"),
            models.UniqueConstraint(fields=["framework"], condition=models.Q(status="published"),
                                    name="one_published_version_per_framework"),
        ]

    def __str__(self) -> str:
        return f"{self.framework.name} {self.version}"

    @property
    def frozen(self) -> bool:
        return self.status != self.Status.DRAFT


class Control(models.Model):
    """One obligation of a framework version, in our own words, with the evidence kinds that satisfy it and the
    classification and tiers it applies to (empty lists: any)."""

    framework_version = models.ForeignKey(FrameworkVersion, on_delete=models.PROTECT, related_name="controls")
    code = models.CharField(max_length=40, validators=[validate_single_line])
    title = models.CharField(max_length=200, validators=[validate_single_line])
    summary = models.TextField(help_text="What it asks, in our own words (never the source's text).")
    reference = models.CharField(max_length=120, validators=[validate_single_line],
                                 help_text="Article, annex or section number in the source.")
    evidence = models.JSONField(default=list, help_text=f"Evidence kinds: {', '.join(ev.EVIDENCE_KINDS)}.")
    eu_categories = models.JSONField(
        default=list, blank=True,
        help_text=f"Applies to these EU AI Act categories only: {', '.join(ev.EU_CATEGORIES)}.")
    roles = models.JSONField(default=list, blank=True, help_text="Applies to these roles only: provider, deployer.")
    tiers = models.JSONField(default=list, blank=True, help_text="Applies to these tiers only: low ... critical.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["framework_version", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["framework_version", "code"], name="one_control_code_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    def spec(self) -> ev.ControlSpec:
        version = self.framework_version
        return ev.ControlSpec(
            pk=self.pk, framework=version.framework.code, version=version.version, code=self.code, title=self.title,
            reference=self.reference, evidence=tuple(self.evidence or ()),
            applicability=ev.Applicability(tuple(self.eu_categories or ()), tuple(self.roles or ()),
                                           tuple(self.tiers or ())))

    def clean(self):
        for name in ("evidence", "eu_categories", "roles", "tiers"):
            if not isinstance(getattr(self, name), list):
                raise ValidationError({name: "Give a list, e.g. [\"approval\"]."})
        problems = self.spec().problems()
        if problems:
            raise ValidationError({"evidence": problems})


class EuCategory(models.TextChoices):
    PROHIBITED = "prohibited", ev.EU_CATEGORIES["prohibited"]
    HIGH_RISK = "high_risk", ev.EU_CATEGORIES["high_risk"]
    LIMITED = "limited", ev.EU_CATEGORIES["limited"]
    MINIMAL = "minimal", ev.EU_CATEGORIES["minimal"]


class Classification(TimeStampedModel):
    """A model's answers to the classification questionnaire: which controls apply to it follows from these
    and its risk tier. Changed only by ``classification_save``, which audits each change."""

    model = models.OneToOneField(MLModel, on_delete=models.CASCADE, related_name="classification")
    eu_category = models.CharField("EU AI Act category", max_length=20, choices=EuCategory.choices)
    annex_iii_area = models.CharField("Annex III area", max_length=30, choices=list(ev.ANNEX_III_AREAS.items()),
                                      default="none")
    role = models.CharField("Our role", max_length=10, choices=list(ev.ROLES.items()))
    rationale = models.TextField(blank=True, help_text="Why this classification, for the auditor.")
    classified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                      related_name="+")

    def __str__(self) -> str:
        return f"Classification of {self.model}"

    def fact(self) -> ev.Classification:
        return ev.Classification(self.eu_category, self.annex_iii_area, self.role, self.updated_at)


class DocumentKind(models.TextChoices):
    ANNEX_IV = "annex_iv", "Annex IV technical documentation (EU AI Act)"
    SR_11_7 = "sr11_7", "Validation report (SR 11-7 / OCC 2011-12)"


def _document_path(document: "GeneratedDocument", filename: str) -> str:
    version = document.version
    return f"compliance/documents/{version.model.slug}/{version.version}/{filename}"


class GeneratedDocument(models.Model):
    """A document generated from a version's records: printable HTML and its PDF, numbered per version and kind.

    The bytes are stored through Django's storage API and never change; their SHA-256 is kept beside them.
    ``generated_at`` is the timestamp the document states (and its PDF metadata carries): the same records at
    the same stated time give the same bytes. Attached to reviews as evidence through ``reviews``.
    """

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="generated_documents")
    kind = models.CharField(max_length=10, choices=DocumentKind.choices)
    number = models.PositiveIntegerField(help_text="1, 2, 3 ... per version and kind.")
    generated_at = models.DateTimeField(help_text="The generation timestamp the document states.")
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    html = models.FileField(upload_to=_document_path, max_length=300)
    pdf = models.FileField(upload_to=_document_path, max_length=300)
    html_sha256 = models.CharField(max_length=64, validators=[validate_single_line])
    pdf_sha256 = models.CharField(max_length=64, validators=[validate_single_line])
    pages = models.PositiveIntegerField(default=0)
    reviews = models.ManyToManyField("reviews.Review", blank=True, related_name="generated_documents",
                                     help_text="Review rounds it is attached to as evidence.")

    class Meta:
        ordering = ["version", "kind", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["version", "kind", "number"], name="one_document_number_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} No. {self.number} of {self.version.model.name} {self.version.version}"

    @property
    def reference(self) -> str:
        """The document's identifier, printed on every page: model, version, kind and number."""
        return f"{self.version.model.slug}-{self.version.version}-{self.kind}-{self.number}"
class FindingControl(models.Model):
    """A control a validation finding concerns (the finding lives in ``apps.findings``, below this app).

    Points at a control row of one framework version, so a later version never changes what the finding was
    linked to. Written only by ``finding_controls_set``, which audits the change.
    """

    finding = models.ForeignKey("findings.Finding", on_delete=models.CASCADE, related_name="control_links")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="finding_links")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["control__framework_version__framework__order", "control__order", "control__code"]
        constraints = [models.UniqueConstraint(fields=["finding", "control"], name="one_link_per_finding_control")]

    def __str__(self) -> str:
        return f"{self.finding} concerns {self.control.code}"
