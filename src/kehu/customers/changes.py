"""Change-history rows (who, when, which field, old → new, why), shared by single and bulk writes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from kehu.catalog.spec import FieldSpec
from kehu.catalog.vault import Vault, to_text
from kehu.db import utcnow
from kehu.kit.ids import new_id


def history_row(vault: Vault, *, spec: FieldSpec, customer_id: str, record_id: str, op: str, old: Any, new: Any,
                reason: str | None, changed_by: str | None, changed_at: datetime | None = None) -> dict[str, Any]:
    """Column values of one History row; values of encrypted fields are sealed, bound to the history row."""
    hid = new_id()

    def pack(value: Any, which: str) -> bytes | None:
        if value is None:
            return None
        text = to_text(value)
        if spec.encrypted:  # encrypted fields stay encrypted in history, bound to this history row
            return vault.seal(text, table="customer_history", field=f"{which}:{spec.key}", row_id=hid)
        return text.encode()

    return dict(id=hid, customer_id=customer_id, entity=spec.entity, record_id=record_id, field=spec.name, op=op,
                old_value=pack(old, "old"), new_value=pack(new, "new"), changed_by=changed_by,
                changed_at=changed_at or utcnow(), reason=reason)


#: History field name of the row that records the creation of an archive.
CREATED = "_archive"


def creation_row(*, customer_id: str, reason: str | None, changed_by: str | None,
                 changed_at: datetime | None = None) -> dict[str, Any]:
    """The one history row of a new archive (its initial values are the archive itself, not repeated here)."""
    return dict(id=new_id(), customer_id=customer_id, entity="customer", record_id=customer_id, field=CREATED,
                op="create", old_value=None, new_value=None, changed_by=changed_by,
                changed_at=changed_at or utcnow(), reason=reason)
