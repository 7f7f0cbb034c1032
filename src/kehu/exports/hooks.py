"""The one place where consent filtering plugs into exports.

`kehu.consent` (or the lead wiring it) calls `set_consent_check(consent.allows)` once at start-up;
`allows(session, customer_id, purpose) -> bool` is then asked for every customer of an export whose
purpose category is in `CONSENT_USES`, and customers without consent are left out of the file (the
export reports how many). A service call may also pass its own check (`consent=`), e.g. in tests.
Until a check is installed, exports for those purposes are refused rather than sent unfiltered.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

#: allows(session, customer_id, purpose) -> bool
ConsentCheck = Callable[[Session, str, str], bool]

#: purpose categories that need the customer's consent (营销: PIPL Art. 13/14)
CONSENT_USES = frozenset({"marketing"})

_check: list[ConsentCheck | None] = [None]


def set_consent_check(check: ConsentCheck | None) -> None:
    """Install (or remove, with None) the consent check used by every export."""
    _check[0] = check


def consent_check() -> ConsentCheck | None:
    """The installed consent check, if any."""
    return _check[0]
