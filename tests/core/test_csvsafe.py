import csv
import io

import pytest
from django.urls import reverse

from apps.core.csvsafe import safe_row
from apps.risk import services as risk_services
from tests.inventory.factories import MLModelFactory
from tests.risk.factories import ratings

FORMULA_STARTS = ("=", "+", "-", "@")
# The characters a spreadsheet may be told to split a line on.
SEPARATORS = [",", ";", "\t", "|"]


@pytest.mark.parametrize(("value", "expected"), [
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("=1", "'=1"), ("+SUM(1)", "'+SUM(1)"), ("@x", "'@x"),
    ("-cmd", "'-cmd"), ("a=1", "a=1"), (None, ""), (3, 3), (-5, -5), (0.25, 0.25),
])
def test_formula_starts_are_quoted_and_numbers_are_kept(value, expected):
    assert safe_row([value]) == [expected]


def test_a_negative_number_is_written_as_a_number():
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(safe_row([-5, "-5"]))
    assert buffer.getvalue() == "-5,'-5\n"


@pytest.mark.parametrize(("value", "expected"), [
    ("see;=1+1;@SUM(2+2)", "see;'=1+1;'@SUM(2+2)"),
    ("a,+1", "a,'+1"), ("a\t-1", "a\t'-1"), ("a|@x", "a|'@x"), ("a\n=1", "a\n'=1"), ("a\r\n=1", "a\r\n'=1"),
    ("a; =1", "a;' =1"), ("a;;=1", "a;;'=1"), ("\n=1", "'\n'=1"),
])
def test_it_quotes_a_formula_start_after_every_separator(value, expected):
    assert safe_row([value]) == [expected]


@pytest.mark.parametrize("value", [" =1+1", "  @SUM(1)", "\u00a0-1+1"])
def test_it_quotes_a_formula_behind_leading_whitespace(value):
    assert safe_row([value]) == [f"'{value}"]


@pytest.mark.parametrize("value", ["a=1", "x - y", "plain text, with commas; and more", "a;b|c\td", "e-mail@x"])
def test_it_leaves_text_without_a_formula_start_alone(value):
    assert safe_row([value]) == [value]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _formula_cells(text: str, separator: str) -> list[str]:
    """Cells a spreadsheet splitting on ``separator`` would evaluate, read with and without CSV quoting."""
    quoted = [cell for row in csv.reader(io.StringIO(text), delimiter=separator) for cell in row]
    naive = [cell for line in text.splitlines() for cell in line.split(separator)]
    return [cell for cell in quoted + naive
            if cell.lstrip().startswith(FORMULA_STARTS) and not _is_number(cell.strip())]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_no_export_hands_a_spreadsheet_a_formula_whatever_it_splits_on(client_as, separator):
    model = MLModelFactory(name="Scoring |=2+2", purpose="see;=1+1;@SUM(2+2)\n- first\n\t+second")
    values = ratings()
    values["degradation"]["rationale"] = "fine, =HYPERLINK(1)"
    draft = risk_services.assessment_save_draft(actor=None, model=model, ratings=values, exposure=model.exposure)
    risk_services.assessment_submit(actor=None, assessment=draft, based_on_id=None)
    client = client_as("executive")

    for url in (reverse("inventory:export"), reverse("risk:register-export")):
        assert _formula_cells(client.get(url).content.decode(), separator) == []
