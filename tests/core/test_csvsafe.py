import csv
import io

import pytest

from apps.core.csvsafe import safe_row


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
