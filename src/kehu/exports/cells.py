"""Making one cell safe for a spreadsheet (CSV or Excel)."""
from __future__ import annotations

import re

#: A cell starting with one of these is read as a formula (or DDE) by Excel, WPS or LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in the XML of an .xlsx


def safe(value: object) -> str:
    """The cell text with formula injection neutralised: a leading `'` before a formula character."""
    text = "" if value is None else str(value)
    text = _XML_ILLEGAL.sub("", text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
