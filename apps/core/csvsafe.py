"""CSV cells that spreadsheets will not execute.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed is a
formula to Excel and LibreOffice (CSV injection); such cells get a leading apostrophe so they are
shown as text. Leading spaces do not help: ``" =1+1"`` is trimmed and evaluated.

The same holds inside a cell: ``see;=1+1`` written by a comma-separated writer is not quoted, and a
spreadsheet set to ``;`` splits it and evaluates ``=1+1``. So, following OWASP's CSV injection
guidance, an apostrophe also goes after every character a spreadsheet may split on (``,`` ``;``
tab ``|`` CR LF) when a formula start follows it. Numbers are left alone, so ``-5`` stays a number.
"""

import re

# Whitespace other than tab, CR and LF, which are separators and are checked on their own.
_SPACES = r"[^\S\t\r\n]*"
_CELL_START = re.compile(r"^(?=[\t\r\n]|\s*[=+\-@])")
_AFTER_SEPARATOR = re.compile(rf"(?<=[,;\t|\r\n])(?={_SPACES}[=+\-@])")


def safe_cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = _AFTER_SEPARATOR.sub("'", str(value))
    return _CELL_START.sub("'", text, count=1)


def safe_row(values) -> list:
    return [safe_cell(v) for v in values]
