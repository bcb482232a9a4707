"""CSV cells that spreadsheets will not execute.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel and LibreOffice (CSV injection); such cells get a leading
apostrophe so they are shown as text. Numbers are left alone.
"""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def safe_row(values) -> list:
    return [safe_cell(v) for v in values]
