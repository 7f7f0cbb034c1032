"""Reading and writing a record's declared fields: encryption and blind indexes per declaration."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from kehu.catalog.registry import table_of
from kehu.catalog.spec import FieldSpec
from kehu.security import aead
from kehu.security.crypto import Crypto


def to_text(value: Any) -> str:
    """Canonical text of a stored value (what is encrypted and what masking sees)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class Vault:
    """Seals and opens the values of one customer's records with that customer's data key."""

    def __init__(self, crypto: Crypto, *, customer_id: str, wrapped_dek: bytes):
        self.crypto = crypto
        self.customer_id = customer_id
        self._wrapped = wrapped_dek
        self._dek: bytes | None = None
        self._cipher = None  # AES-GCM of the data key, made once for all the values this vault opens

    @classmethod
    def new(cls, crypto: Crypto, *, customer_id: str) -> "Vault":
        """A vault with a fresh data key for a new customer."""
        dek, wrapped = crypto.new_data_key(owner=customer_id)
        vault = cls(crypto, customer_id=customer_id, wrapped_dek=wrapped)
        vault._dek = dek
        return vault

    @property
    def wrapped(self) -> bytes:
        """The wrapped data key to store on the customer row."""
        return self._wrapped

    @property
    def dek(self) -> bytes:
        """The customer's data key (unwrapped on first use)."""
        if self._dek is None:
            self._dek = self.crypto.unwrap(self._wrapped, owner=self.customer_id)
        return self._dek

    def seal(self, value: str, *, table: str, field: str, row_id: str) -> bytes:
        """Encrypt one value with this customer's key."""
        return self.crypto.encrypt(self.dek, value, table=table, field=field, row_id=row_id)

    def open(self, blob: bytes, *, table: str, field: str, row_id: str) -> str:
        """Decrypt one value sealed with this customer's key."""
        if self._cipher is None:
            self._cipher = (aead.cipher(self._dek) if self._dek is not None
                            else self.crypto.unwrap_cipher(self._wrapped, owner=self.customer_id))
        return self.crypto.decrypt(self._cipher, blob, table=table, field=field, row_id=row_id)

    def write(self, record: Any, spec: FieldSpec, value: Any) -> None:
        """Store a validated value into a record, sealing and blind-indexing per declaration."""
        if not spec.encrypted:
            setattr(record, spec.name, value)
            return
        table = record.__tablename__
        if value is None:
            setattr(record, spec.name, None)
        else:
            setattr(record, spec.name, self.seal(to_text(value), table=table, field=spec.name, row_id=record.id))
        if spec.blind_index:
            setattr(record, spec.name + "_bi",
                    None if value is None else self.crypto.blind_index(spec.blind_index, to_text(value)))

    def read(self, record: Any, spec: FieldSpec) -> Any:
        """The plaintext value of a declared field of a record (an ORM object or a plain result row)."""
        raw = getattr(record, spec.name)
        if raw is None or not spec.encrypted:
            return raw
        return self.open(raw, table=table_of(spec.entity), field=spec.name, row_id=record.id)
