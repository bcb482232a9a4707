import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.errors import DomainError
from apps.core.models import AuditEvent
from apps.inventory import importer
from apps.inventory.models import BusinessUnit, MLModel, Team
from tests.compliance.factories import UseCaseFactory
from tests.inventory.factories import BusinessProcessFactory, MLModelFactory, TeamFactory

URL = "/inventory/import/"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def people(make_user):
    return {"olivia": make_user(username="olivia"), "tom": make_user(username="tom")}


def csv_bytes(rows: list[dict], *, columns=None, delimiter=",", bom=False) -> bytes:
    columns = columns or list(rows[0]) if rows else columns
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def good_row(**changes) -> dict:
    row = {"name": "Churn", "purpose": "Predict churn", "business_unit": "Retail", "team": "Analytics",
           "accountable_owner": "olivia", "technical_owners": "tom", "exposure": "customer_facing",
           "tags": "churn;retail"}
    row.update(changes)
    return row


def problems(content: bytes) -> list[str]:
    return [str(p) for p in importer.parse(content).problems]


def upload(client, content: bytes, name: str = "inventory.csv"):
    return client.post(URL, {"action": "preview", "file": SimpleUploadedFile(name, content, "text/csv")})


def test_it_previews_a_good_file_without_writing(people):
    preview = importer.parse(csv_bytes([good_row(), good_row(name="Fraud")]))
    assert preview.ok and [r.number for r in preview.rows] == [2, 3]
    assert preview.new_units == ["Retail"] and preview.new_teams == ["Analytics (Retail)"]
    assert MLModel.objects.count() == 0 and BusinessUnit.objects.count() == 0


@pytest.mark.parametrize(("row", "expected"), [
    (good_row(accountable_owner="ghost"), "Row 2, accountable_owner: Unknown user 'ghost'."),
    (good_row(technical_owners="tom;nobody"), "Row 2, technical_owners: Unknown user 'nobody'."),
    (good_row(exposure="world"),
     "Row 2, exposure: 'world' is not valid; use one of: internal, customer_facing, public."),
    (good_row(purpose=""), "Row 2, purpose: A value is required."),
    (good_row(business_processes="nope"),
     "Row 2, business_processes: Unknown business process 'nope'; create it first."),
    (good_row(name="x" * 161), "Row 2, name: Too long: at most 160 characters."),
])
def test_it_reports_a_problem_with_row_and_column(people, row, expected):
    assert problems(csv_bytes([row])) == [expected]


def test_it_refuses_an_owner_who_has_left(people):
    people["olivia"].is_active = False
    people["olivia"].save(update_fields=["is_active"])
    assert problems(csv_bytes([good_row()])) == [
        "Row 2, accountable_owner: olivia has left (inactive account); name an active owner."]


def test_it_refuses_duplicate_names_in_the_file_and_in_the_inventory(people):
    MLModelFactory(name="Fraud", slug="fraud")
    content = csv_bytes([good_row(), good_row(name="fraud"), good_row(name=" CHURN ")])
    assert problems(content) == [
        "Row 3, name: A model with this name is already in the inventory (fraud).",
        "Row 4, name: Duplicate: row 2 has the same model name.",
    ]


def test_it_reports_unknown_and_missing_columns_on_the_header_row(people):
    content = csv_bytes([{"name": "a", "purpose": "b", "business_unit": "c", "colour": "red"}])
    assert problems(content) == [
        f"Row 1, colour: Unknown column; the columns are: {', '.join(importer.COLUMNS)}.",
        "Row 1, team: Required column is missing.",
        "Row 1, accountable_owner: Required column is missing.",
    ]


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "The file is empty"),
    (b"name,purpose,business_unit,team,accountable_owner\r\n", "has a header but no rows"),
    ("name,purpose\r\nCaf\u00e9,x\r\n".encode("latin-1"), "The file is not UTF-8 text"),
    (b"x" * (importer.MAX_BYTES + 1), "the limit is 5 MB"),
])
def test_it_reports_problems_with_the_whole_file(db, content, expected):
    found = problems(content)
    assert len(found) == 1 and found[0].startswith("File: ") and expected in found[0]


def test_it_reads_semicolon_separated_files_with_a_bom(people):
    content = csv_bytes([good_row(technical_owners="tom;olivia")], delimiter=";", bom=True)
    preview = importer.parse(content)
    assert preview.ok and [u.username for u in preview.rows[0].technical_owners] == ["tom", "olivia"]


def test_it_accepts_choice_labels_and_existing_units_and_teams_by_name_or_slug(people):
    team = TeamFactory(name="Analytics", business_unit__name="Retail", business_unit__slug="retail")
    process = BusinessProcessFactory(name="Retention", slug="retention")
    preview = importer.parse(csv_bytes([good_row(business_unit="retail", team="analytics", exposure="Public",
                                                 business_processes="Retention")]))
    row = preview.rows[0]
    assert preview.ok and row.team == team and row.choices["exposure"] == "public" and row.processes == [process]
    assert preview.new_units == [] and row.notes == []


def test_it_asks_for_a_slug_when_a_process_name_is_ambiguous(people):
    BusinessProcessFactory(name="Retention", slug="retention-retail")
    BusinessProcessFactory(name="Retention", slug="retention-b2b")
    assert problems(csv_bytes([good_row(business_processes="retention")])) == [
        "Row 2, business_processes: 'retention' names several processes; use one of the slugs "
        "retention-b2b, retention-retail."]


def test_the_preview_costs_a_constant_number_of_queries(people, django_assert_max_num_queries):
    content = csv_bytes([good_row(name=f"Model {n}") for n in range(50)])
    with django_assert_max_num_queries(5):
        assert importer.parse(content).ok


def test_a_good_file_creates_every_model_with_audit_events(client_as, people, tmp_path):
    client = client_as("data_scientist", username="sam")
    first, second = UseCaseFactory(), UseCaseFactory()
    content = csv_bytes([good_row(use_case=first.reference),
                         good_row(name="Fraud", team="Risk models", use_case=second.reference)])
    preview = upload(client, content)
    assert b"Commit import" in preview.content and b"will be created" in preview.content
    response = client.post(URL, {"action": "commit", "sha256": importer.sha256_of(content), "filename": "inv.csv"})
    assert response.status_code == 302 and response["Location"] == reverse("inventory:index")
    churn = MLModel.objects.get(name="Churn")
    assert churn.team.business_unit.name == "Retail" and churn.exposure == "customer_facing"
    assert [u.username for u in churn.technical_owners.all()] == ["tom"]
    assert sorted(t.name for t in churn.tags.all()) == ["churn", "retail"]
    assert Team.objects.filter(business_unit__name="Retail").count() == 2
    assert AuditEvent.objects.filter(action="model.registered", actor_username="sam").count() == 2
    assert AuditEvent.objects.get(action="inventory.imported").changes["models"] == [None, ["churn", "fraud"]]
    assert not list((tmp_path / importer.UPLOAD_FOLDER).glob("*.csv")), "the previewed file is removed after the commit"
    assert (churn.use_case, churn.classification.eu_category) == (first, first.eu_category)


def test_a_row_without_an_approved_use_case_imports_nothing(people, make_user):
    content = csv_bytes([good_row(use_case=UseCaseFactory().reference), good_row(name="Fraud")])
    with pytest.raises(DomainError, match="Row 3: Register a model from an approved use case"):
        importer.commit(content, actor=make_user("data_scientist"))
    assert MLModel.objects.count() == 0


def test_a_file_with_an_error_offers_no_commit_and_commits_nothing(client_as, people):
    client = client_as("admin")
    content = csv_bytes([good_row(), good_row(name="Fraud", accountable_owner="ghost")])
    response = upload(client, content)
    assert b"Commit import" not in response.content and b"Unknown user &#x27;ghost&#x27;" in response.content
    client.post(URL, {"action": "commit", "sha256": importer.sha256_of(content)})
    with pytest.raises(importer.ImportRejected):
        importer.commit(content, actor=people["olivia"])
    assert MLModel.objects.count() == 0 and BusinessUnit.objects.count() == 0


def test_formula_looking_cells_are_stored_as_text(people):
    content = csv_bytes([good_row(name="=HYPERLINK(\"http://x\")", purpose="+cmd|' /C calc'!A0")])
    [model] = importer.commit(content, actor=None)
    assert (model.name, model.purpose) == ('=HYPERLINK("http://x")', "+cmd|' /C calc'!A0")


def test_an_owner_who_left_after_the_preview_stops_the_commit(client_as, people):
    client = client_as("data_scientist")
    content = csv_bytes([good_row(), good_row(name="Fraud", accountable_owner="tom")])
    upload(client, content)
    people["tom"].is_active = False
    people["tom"].save(update_fields=["is_active"])
    response = client.post(URL, {"action": "commit", "sha256": importer.sha256_of(content)})
    assert response.status_code == 409 and b"no longer validates" in response.content
    assert b"tom has left" in response.content
    assert MLModel.objects.count() == 0 and BusinessUnit.objects.count() == 0


def test_a_failure_during_the_commit_rolls_every_row_back(people, monkeypatch):
    TeamFactory(name="Analytics", business_unit__name="Retail")
    content = csv_bytes([good_row(), good_row(name="Fraud", business_unit="Risk")])
    stale = importer.parse(content)
    monkeypatch.setattr(importer, "parse", lambda _content: stale)  # validated before someone added "Risk"
    BusinessUnit.objects.create(name="Risk", slug="risk")
    with pytest.raises(DomainError, match=r"^Row 3: A business unit named 'Risk' already exists\. Nothing was"):
        importer.commit(content, actor=None)
    assert MLModel.objects.count() == 0
    assert not AuditEvent.objects.filter(action__in=["model.registered", "team.created"]).exists()


@pytest.mark.parametrize("reference", ["../../etc/passwd", "A" * 64, "0" * 64])
def test_it_refuses_a_malformed_or_unknown_file_reference(client_as, reference):
    response = client_as("admin").post(URL, {"action": "commit", "sha256": reference}, follow=True)
    assert b"upload the file again" in response.content and MLModel.objects.count() == 0


def test_it_refuses_a_stored_file_that_was_altered(client_as, people, tmp_path):
    client = client_as("admin")
    content = csv_bytes([good_row()])
    upload(client, content)
    digest = importer.sha256_of(content)
    (tmp_path / importer.UPLOAD_FOLDER / f"{digest}.csv").write_bytes(csv_bytes([good_row(name="Other")]))
    client.post(URL, {"action": "commit", "sha256": digest})
    assert MLModel.objects.count() == 0


def test_it_refuses_an_upload_over_the_size_limit(client_as):
    response = upload(client_as("admin"), b"x" * (importer.MAX_BYTES + 1))
    assert b"the limit is 5 MB" in response.content


def test_executives_cannot_import(client_as, people):
    response = upload(client_as("executive"), csv_bytes([good_row()]))
    assert response.status_code == 403 and MLModel.objects.count() == 0


def test_the_template_csv_downloads_and_validates(client_as, make_user):
    for name in ("jdoe", "asmith", "bkhan"):
        make_user(username=name)
    response = client_as("data_scientist").get(URL, {"template": "1"})
    assert response["Content-Disposition"] == 'attachment; filename="inventory-import-template.csv"'
    assert response.content.startswith(b"\xef\xbb\xbfname,purpose,")
    assert importer.parse(response.content).ok
