"""Import an existing model inventory from a spreadsheet exported as CSV.

Two steps, so nothing is written until a person has seen what will happen:
``parse(content)`` validates the whole file into an ``ImportPreview`` (every
problem with its spreadsheet row number and column, and the business units and
teams that will be created); ``commit(content, actor=...)`` parses again against
the inventory as it is now and, only if nothing is wrong, registers every row
through the inventory services in one transaction: all rows or none.

Cells are stored as the text they contain. A cell such as ``=HYPERLINK(...)`` is
never evaluated here; exports neutralise such text when they write CSV again.
"""

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify

from apps.core import storage as files
from apps.core.csvsafe import safe_row
from apps.core.errors import DomainError
from apps.core.services import audit_record
from apps.inventory import services
from apps.inventory.models import AutomationLevel, BusinessProcess, BusinessUnit, Exposure, MLModel, TaskType, Team

COLUMNS = (
    "name", "purpose", "business_unit", "team", "accountable_owner", "technical_owners", "business_processes",
    "exposure", "automation_level", "task_type", "tags", "intended_use", "out_of_scope_uses", "use_case",
)
REQUIRED = ("name", "purpose", "business_unit", "team", "accountable_owner")
COLUMN_HELP = {
    "name": "Model name, unique in the inventory.",
    "purpose": "What the model is for, in business terms.",
    "business_unit": "Business unit name or slug; created if unknown.",
    "team": "Team name or slug within the business unit; created if unknown.",
    "accountable_owner": "Username of the person accountable for the model (an active account).",
    "technical_owners": "Usernames separated by ;",
    "business_processes": "Business process names or slugs separated by ; (they must exist already).",
    "exposure": "One of: " + ", ".join(Exposure.values) + " (default internal).",
    "automation_level": "One of: " + ", ".join(AutomationLevel.values) + " (default human_decides).",
    "task_type": "One of: " + ", ".join(TaskType.values) + " (default binary).",
    "tags": "Tags separated by ;",
    "intended_use": "Free text.",
    "out_of_scope_uses": "Free text.",
    "use_case": "The approved use case the model comes from, e.g. UC-12 (required unless PORTAL_REQUIRE_INTAKE is "
                "off; each use case becomes one model).",
}
CHOICES = {"exposure": Exposure, "automation_level": AutomationLevel, "task_type": TaskType}
MAX_LENGTHS = {"name": 160, "business_unit": 120, "team": 120}
LIST_SEPARATOR = ";"
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 2000
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
HEADER_ROW = 1
TEMPLATE_EXAMPLE = {
    "name": "Churn prediction", "purpose": "Predict which customers will cancel in the next 90 days.",
    "business_unit": "Retail", "team": "Customer analytics", "accountable_owner": "jdoe",
    "technical_owners": "asmith;bkhan", "business_processes": "", "exposure": "internal",
    "automation_level": "human_decides", "task_type": "binary", "tags": "churn;retail",
    "intended_use": "Prioritise retention calls.", "out_of_scope_uses": "Pricing decisions.",
    "use_case": "UC-12",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file; ``row`` counts like the spreadsheet (header = 1), None for the whole file."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row}" if self.row else "File"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass
class ImportRow:
    number: int
    values: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Resolved by validation, used by commit.
    owner: object = None
    technical_owners: list = field(default_factory=list)
    processes: list = field(default_factory=list)
    unit: BusinessUnit | None = None
    team: Team | None = None
    choices: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    def add(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.number, column, message))

    def list_value(self, column: str) -> list[str]:
        return [item.strip() for item in self.values.get(column, "").split(LIST_SEPARATOR) if item.strip()]


@dataclass
class ImportPreview:
    rows: list[ImportRow] = field(default_factory=list)
    file_problems: list[Problem] = field(default_factory=list)
    new_units: list[str] = field(default_factory=list)
    new_teams: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [*self.file_problems, *(p for row in self.rows for p in row.problems)]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.problems


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def template_csv() -> str:
    """A header row and one example row, for people starting from a blank spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow(safe_row(TEMPLATE_EXAMPLE[c] for c in COLUMNS))
    return out.getvalue()


# --- Reading the file -------------------------------------------------------------------------------

def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DomainError(
            f"The file is not UTF-8 text (byte {exc.start + 1} cannot be read). In Excel, save it as "
            "'CSV UTF-8 (Comma delimited)'; in LibreOffice, choose the UTF-8 character set."
        ) from exc


def _delimiter(text: str) -> str:
    # Sniff the header line only: list cells hold ';' inside comma-separated files.
    header = text.lstrip().splitlines()[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;").delimiter
    except csv.Error:
        return ","


def _header_name(raw: str) -> str:
    return raw.strip().lower().replace(" ", "_").replace("-", "_")


def _read(content: bytes, preview: ImportPreview) -> tuple[list[str], list[tuple[int, list[str]]]] | None:
    if len(content) > MAX_BYTES:
        preview.file_problems.append(Problem(None, "", too_big_message(len(content))))
        return None
    try:
        text = _decode(content)
    except DomainError as exc:
        preview.file_problems.append(Problem(None, "", exc.message))
        return None
    if not text.strip():
        preview.file_problems.append(Problem(None, "", "The file is empty. Download the template to start."))
        return None
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True))
    except csv.Error as exc:
        preview.file_problems.append(Problem(None, "", f"The file is not valid CSV: {exc}."))
        return None
    header = [_header_name(h) for h in records[0]]
    rows = [(n, cells) for n, cells in enumerate(records[1:], start=HEADER_ROW + 1) if any(c.strip() for c in cells)]
    return header, rows


def too_big_message(size: int) -> str:
    return f"The file is {size / 1024 / 1024:.1f} MB; the limit is {MAX_BYTES // 1024 // 1024} MB. Split it."


def _check_header(header: list[str], preview: ImportPreview) -> None:
    seen = set()
    for name in header:
        if not name:
            continue
        if name in seen:
            preview.file_problems.append(Problem(HEADER_ROW, name, "This column appears twice."))
        elif name not in COLUMNS:
            preview.file_problems.append(
                Problem(HEADER_ROW, name, f"Unknown column; the columns are: {', '.join(COLUMNS)}."))
        seen.add(name)
    for name in REQUIRED:
        if name not in seen:
            preview.file_problems.append(Problem(HEADER_ROW, name, "Required column is missing."))


# --- Validating rows ---------------------------------------------------------------------------------

@dataclass
class _Lookups:
    """Everything rows refer to, fetched once for the whole file (a constant number of queries)."""

    users: dict
    units: dict
    teams: dict
    processes: dict
    existing_models: dict

    @classmethod
    def load(cls, rows: list[ImportRow]) -> "_Lookups":
        usernames = {name for row in rows for name in [row.values.get("accountable_owner", ""),
                                                       *row.list_value("technical_owners")] if name}
        users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=usernames)}
        units = {}
        for unit in BusinessUnit.objects.all():
            units[unit.name.lower()] = units[unit.slug] = unit
        teams = {}
        for team in Team.objects.all():
            teams[(team.business_unit_id, team.name.lower())] = teams[(team.business_unit_id, team.slug)] = team
        processes: dict[str, list] = {}
        for process in BusinessProcess.objects.all():
            for key in {process.slug, process.name.lower()}:
                processes.setdefault(key, []).append(process)
        names = {row.values.get("name", "").lower() for row in rows}
        existing = dict(MLModel.objects.annotate(lname=Lower("name")).filter(lname__in=names)
                        .values_list("lname", "slug"))
        return cls(users, units, teams, processes, existing)


def _check_required_and_lengths(row: ImportRow) -> None:
    for column in REQUIRED:
        if not row.values.get(column):
            row.add(column, "A value is required.")
    for column, limit in MAX_LENGTHS.items():
        if len(row.values.get(column, "")) > limit:
            row.add(column, f"Too long: at most {limit} characters.")


def _check_people(row: ImportRow, users: dict) -> None:
    owner_name = row.values.get("accountable_owner", "")
    if owner_name:
        row.owner = users.get(owner_name)
        if row.owner is None:
            row.add("accountable_owner", f"Unknown user {owner_name!r}.")
        elif not row.owner.is_active:
            row.add("accountable_owner", f"{owner_name} has left (inactive account); name an active owner.")
    for name in row.list_value("technical_owners"):
        user = users.get(name)
        if user is None:
            row.add("technical_owners", f"Unknown user {name!r}.")
        elif not user.is_active:
            row.add("technical_owners", f"{name} has left (inactive account).")
        elif user not in row.technical_owners:
            row.technical_owners.append(user)


def _check_processes(row: ImportRow, processes: dict) -> None:
    for name in row.list_value("business_processes"):
        found = processes.get(name) or processes.get(name.lower()) or []
        if not found:
            row.add("business_processes", f"Unknown business process {name!r}; create it first.")
        elif len(found) > 1:
            slugs = ", ".join(sorted(p.slug for p in found))
            row.add("business_processes", f"{name!r} names several processes; use one of the slugs {slugs}.")
        elif found[0] not in row.processes:
            row.processes.append(found[0])


def _check_choices(row: ImportRow) -> None:
    for column, choices in CHOICES.items():
        raw = row.values.get(column, "")
        if not raw:
            continue
        wanted = raw.lower()
        match = next((v for v, label in choices.choices if wanted in (v, label.lower())), None)
        if match is None:
            row.add(column, f"{raw!r} is not valid; use one of: {', '.join(choices.values)}.")
        else:
            row.choices[column] = match


def _check_tags(row: ImportRow) -> None:
    for tag in row.list_value("tags"):
        if slugify(tag):
            row.tags.append(tag)
        else:
            row.add("tags", f"Tag {tag!r} has no letters or digits.")


def _resolve_organisation(row: ImportRow, lookups: _Lookups, preview: ImportPreview) -> None:
    unit_name, team_name = row.values.get("business_unit", ""), row.values.get("team", "")
    if not unit_name or not team_name:
        return
    row.unit = lookups.units.get(unit_name.lower()) or lookups.units.get(unit_name)
    if row.unit is None:
        row.notes.append(f"Business unit {unit_name!r} will be created.")
        if unit_name.lower() not in {u.lower() for u in preview.new_units}:
            preview.new_units.append(unit_name)
    else:
        row.team = lookups.teams.get((row.unit.pk, team_name.lower())) or lookups.teams.get((row.unit.pk, team_name))
    if row.team is None:
        row.notes.append(f"Team {team_name!r} will be created in {row.unit or unit_name}.")
        label = f"{team_name} ({row.unit or unit_name})"
        if label.lower() not in {t.lower() for t in preview.new_teams}:
            preview.new_teams.append(label)


def _check_duplicates(rows: list[ImportRow], existing: dict) -> None:
    first_row: dict[str, int] = {}
    for row in rows:
        key = row.values.get("name", "").lower()
        if not key:
            continue
        if key in existing:
            row.add("name", f"A model with this name is already in the inventory ({existing[key]}).")
        if key in first_row:
            row.add("name", f"Duplicate: row {first_row[key]} has the same model name.")
        else:
            first_row[key] = row.number


def parse(content: bytes) -> ImportPreview:
    """Validate a CSV file against the inventory as it is now, without writing anything."""
    preview = ImportPreview()
    read = _read(content, preview)
    if read is None:
        return preview
    header, records = read
    _check_header(header, preview)
    if not records:
        preview.file_problems.append(Problem(None, "", "The file has a header but no rows to import."))
    if len(records) > MAX_ROWS:
        preview.file_problems.append(
            Problem(None, "", f"The file has {len(records)} rows; import at most {MAX_ROWS} at a time."))
    if preview.file_problems:
        return preview
    for number, cells in records:
        row = ImportRow(number, {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name})
        if len(cells) > len(header):
            row.add("", f"The row has {len(cells)} cells but the header names {len(header)} columns.")
        preview.rows.append(row)
    lookups = _Lookups.load(preview.rows)
    for row in preview.rows:
        _check_required_and_lengths(row)
        _check_people(row, lookups.users)
        _check_processes(row, lookups.processes)
        _check_choices(row)
        _check_tags(row)
        _resolve_organisation(row, lookups, preview)
    _check_duplicates(preview.rows, lookups.existing_models)
    return preview


# --- Committing -----------------------------------------------------------------------------------

class ImportRejected(DomainError):
    """The file did not validate at commit time; ``preview`` holds the problems to show."""

    def __init__(self, message: str, *, preview: ImportPreview):
        super().__init__(message)
        self.preview = preview


def _organisation(row: ImportRow, actor, units: dict, teams: dict) -> Team:
    if row.team is not None:
        return row.team
    unit_name, team_name = row.values["business_unit"], row.values["team"]
    unit = row.unit or units.get(unit_name.lower())
    if unit is None:
        unit = units[unit_name.lower()] = services.business_unit_create(actor=actor, name=unit_name)
    key = (unit.pk, team_name.lower())
    if key not in teams:
        teams[key] = services.team_create(actor=actor, name=team_name, business_unit=unit)
    return teams[key]


def _optional_fields(row: ImportRow) -> dict:
    fields = dict(row.choices)
    for column in ("intended_use", "out_of_scope_uses", "use_case"):
        if row.values.get(column):
            fields[column] = row.values[column]
    return fields


def commit(content: bytes, *, actor, filename: str = "") -> list[MLModel]:
    """Register every row of the file, or nothing: one transaction, re-validated now.

    Raises ``ImportRejected`` when the file no longer validates (the inventory
    changed since the preview) and ``DomainError`` naming the row when a service
    refuses one; either way nothing is written.
    """
    with transaction.atomic():
        preview = parse(content)
        if not preview.ok:
            raise ImportRejected("The file no longer validates against the inventory; nothing was imported.",
                                 preview=preview)
        units: dict = {}
        teams: dict = {}
        created = []
        for row in preview.rows:
            try:
                created.append(services.model_register(
                    actor=actor, name=row.values["name"], purpose=row.values["purpose"],
                    accountable_owner=row.owner, team=_organisation(row, actor, units, teams),
                    technical_owners=row.technical_owners, business_processes=row.processes, tags=row.tags,
                    **_optional_fields(row),
                ))
            except DomainError as exc:
                raise DomainError(f"Row {row.number}: {exc.message} Nothing was imported.", field=exc.field) from exc
        digest = sha256_of(content)
        audit_record(actor=actor, action="inventory.imported", object_type="inventory.import", object_id=digest,
                     object_repr=f"CSV import {filename or digest[:12]}",
                     changes={"models": [None, [m.slug for m in created]]})
    return created


# --- The previewed file, kept between preview and commit ---------------------------------------------

UPLOAD_TTL_SECONDS = 24 * 3600


UPLOAD_FOLDER = "imports"


def _upload_name(digest: str) -> str:
    return f"{UPLOAD_FOLDER}/{digest}.csv"


def store_upload(content: bytes) -> str:
    """Keep a previewed file under its SHA-256 (so the form names it by hash) and drop day-old leftovers.

    Through the storage API: the preview and the commit may reach different web machines.
    """
    store = files.backend()
    cutoff = timezone.now() - timedelta(seconds=UPLOAD_TTL_SECONDS)
    try:
        _, names = store.listdir(UPLOAD_FOLDER)
    except FileNotFoundError:
        names = []
    for old in names:
        name = f"{UPLOAD_FOLDER}/{old}"
        if old.endswith(".csv") and store.get_modified_time(name) < cutoff:
            store.delete(name)
    digest = sha256_of(content)
    files.put(_upload_name(digest), content)
    return digest


def load_upload(digest: str) -> bytes | None:
    """The stored file, or None when the reference is malformed, unknown, expired or tampered with."""
    if not SHA256_RE.match(digest or ""):
        return None
    try:
        content = files.read(_upload_name(digest))
    except FileNotFoundError:
        return None
    return content if sha256_of(content) == digest else None


def discard_upload(digest: str) -> None:
    if SHA256_RE.match(digest or ""):
        files.delete(_upload_name(digest))
