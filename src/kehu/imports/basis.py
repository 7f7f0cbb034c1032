"""The legal basis an importer declares for a file (PIPL) and the consent it becomes for each archive.

The declaration is kept on the job (`import_jobs.basis_*`); `kehu.consent.basis` checks it (purpose
codes, channel, published notice version) and records it per archive, with a minor's guardian from the
row. No HTTP; never commits.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from kehu.consent import basis as consent_basis
from kehu.errors import FieldError, ValidationFailed
from kehu.imports import mapping
from kehu.imports.models import ImportJob
from kehu.imports.rows import Row
from kehu.runtime import Ctx


@dataclass(frozen=True, kw_only=True)
class Basis:
    """The legal basis the importer declares for the whole file (PIPL): kept on the job, one place.

    `purposes` are consent purpose codes (kehu.consent); every archive the job writes (or updates) gets
    a consent record with them, the channel, the notice version, the sensitive-consent flag and as scope
    the information categories of the mapped columns. `purpose` and `scope` describe them in words.
    """

    purposes: tuple[str, ...] = ()
    scope: str
    channel: str
    notice_version: str
    sensitive_consent: bool = False  # separate, explicit consent obtained for level-1 values
    guardian_consent: bool = False  # a guardian's consent obtained for each minor (under 14) in the file
    purpose: str = ""
    note: str | None = None

    def __post_init__(self) -> None:
        codes = self.purposes.split(",") if isinstance(self.purposes, str) else self.purposes or ()
        object.__setattr__(self, "purposes", tuple(dict.fromkeys(
            c.strip() for c in codes if isinstance(c, str) and c.strip())))

    def check(self, session: Session) -> list[FieldError]:
        """Errors of an incomplete or unknown declaration (purpose codes and notice version as kehu.consent has them)."""
        errors = []
        for name, label, required, limit in (("purpose", "目的说明", False, 200), ("scope", "处理范围", True, 200),
                                             ("notice_version", "隐私告知版本", True, 40)):
            value = (getattr(self, name) or "").strip()
            if required and not value:
                errors.append(FieldError(f"basis.{name}", "required", f"请填写{label}"))
            elif len(value) > limit:
                errors.append(FieldError(f"basis.{name}", "too_long", f"{label}过长"))
        _parsed, consent_errors = consent_basis.parse(session, self.consent_input())
        taken = {e.field for e in errors}
        return errors + [e for e in _as_basis(consent_errors) if e.field not in taken]

    def consent_input(self, scope: list[str] | None = None) -> dict[str, Any]:
        """The consent every archive of the job gets, as `kehu.consent.basis.parse` takes it."""
        return {"purposes": list(self.purposes), "channel": self.channel, "notice_version": self.notice_version,
                "sensitive": self.sensitive_consent, "scope": scope or [], "note": self.note}

    @classmethod
    def of(cls, job: ImportJob) -> "Basis":
        """The declaration recorded on a job."""
        return cls(purposes=job.basis_purposes, scope=job.basis_scope, channel=job.basis_channel,
                   notice_version=job.basis_notice_version, sensitive_consent=job.basis_sensitive_consent,
                   guardian_consent=job.basis_guardian_consent, purpose=job.basis_purpose, note=job.basis_note)


def _as_basis(errors: list[FieldError]) -> list[FieldError]:
    """kehu.consent's errors named as the import's fields (`consent.purposes` → `basis.purposes`)."""
    return [FieldError("basis." + e.field.removeprefix("consent."), e.code, e.message) for e in errors]


def consent_of(session: Session, ctx: Ctx, job: ImportJob, targets: Iterable[str]) -> consent_basis.Basis:
    """The consent recorded with every archive the job writes: its declaration, scoped to the information
    categories of the mapped columns (`targets`, the job's mapping)."""
    scope = sorted({ctx.catalog.get(*t.split(".", 1)).category for t in targets
                    if t != mapping.ARCHIVE_NO} - {"management"})
    parsed, errors = consent_basis.parse(session, Basis.of(job).consent_input(scope))
    if errors:  # e.g. a job started before purpose codes were asked for, or a purpose retired since
        raise ValidationFailed(_as_basis(errors))
    return consent_basis.with_source(parsed, f"import:{job.id}")


def row_consent(consent: consent_basis.Basis, row: Row, *, guardian_declared: bool) -> consent_basis.Basis:
    """A row's consent: the job's, with the row's guardian when the job declares guardian consent."""
    name, relation = row.guardian.get("guardian_name"), row.guardian.get("guardian_relation")
    if guardian_declared and name and relation:
        return replace(consent, guardian_name=name, guardian_relation=relation)
    return consent


def on_birth_date(job: ImportJob, errors: list[FieldError]) -> list[FieldError]:
    """A minor's missing guardian consent, reported on the birth date that makes the customer a minor."""
    why = "本行缺少监护人姓名或与监护人关系" if job.basis_guardian_consent else "导入依据未声明已取得监护人同意"
    return [FieldError("birth_date", e.code, f"不满十四周岁的未成年人须取得其父母或其他监护人的同意：{why}")
            if e.code == "guardian_consent_required" else e for e in errors]
