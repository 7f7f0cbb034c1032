"""Masking rules, referenced by name from field declarations."""
from __future__ import annotations

from collections.abc import Callable

MASK_CHAR = "*"


def _keep(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return MASK_CHAR * len(value) if len(value) > 1 else MASK_CHAR
    return value[:head] + MASK_CHAR * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str) -> str:
    """身份证: 1101**********1234."""
    return _keep(value, 4, 4)


def mask_mobile(value: str) -> str:
    """手机: 138****5678."""
    return _keep(value, 3, 4)


def mask_phone(value: str) -> str:
    """Landline: area code kept, last 2 digits kept."""
    if "-" in value:
        area, rest = value.split("-", 1)
        return area + "-" + _keep(rest, 0, 2)
    return _keep(value, 3, 2)


def mask_email(value: str) -> str:
    """E-mail: first character of the local part, domain kept: z***@example.com."""
    local, sep, domain = value.partition("@")
    if not sep:
        return _keep(value, 1, 0)
    return (local[:1] + MASK_CHAR * 3) + "@" + domain


def mask_name(value: str) -> str:
    """Person name: surname kept: 张**."""
    return value[:1] + MASK_CHAR * max(1, len(value) - 1)


def mask_account(value: str) -> str:
    """Bank card / account: last 4 digits kept."""
    return MASK_CHAR * 4 + value[-4:] if len(value) > 4 else MASK_CHAR * len(value)


def mask_address(value: str) -> str:
    """Street address: first 3 characters kept."""
    return value[:3] + MASK_CHAR * 4 if len(value) > 3 else MASK_CHAR * 4


def mask_all(value: str) -> str:
    """Whole value hidden behind a fixed-width mask (length not disclosed)."""
    return MASK_CHAR * 6


def mask_date(value: str) -> str:
    """Date: year kept: 1990-**-**."""
    return value[:4] + "-**-**" if len(value) >= 4 else MASK_CHAR * 6


def mask_none(value: str) -> str:
    """No masking (public data)."""
    return value


RULES: dict[str, Callable[[str], str]] = {
    "id_number": mask_id_number,
    "mobile": mask_mobile,
    "phone": mask_phone,
    "email": mask_email,
    "name": mask_name,
    "account": mask_account,
    "address": mask_address,
    "date": mask_date,
    "all": mask_all,
    "none": mask_none,
}


def mask(rule: str, value: object) -> str | None:
    """Apply the named masking rule to a value (None stays None)."""
    if value is None or value == "":
        return None if value is None else ""
    return RULES[rule](str(value))
