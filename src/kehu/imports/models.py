"""Tables of `kehu.imports`: import jobs (with their checkpoint and declared legal basis), saved
column mappings, and the per-row problems of a job (rejected rows' original cells sealed).

None of these tables holds customer data in plaintext: the original cells of a rejected row are
sealed with the job's own data key (wrapped by a master key of the key ring), and the job's key is
dropped together with its rows when the job is purged.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from kehu.db import Base, UTCDateTime, utcnow

__all__ = ["ImportJob", "ImportMapping", "ImportIssue"]

#: Job states: uploaded (file read, mapping proposed) → checked (dry run done) → running (commit in
#: progress, resumable from `checkpoint`) → done; failed (stopped by an error, resumable); purged.
STATES = ("uploaded", "checked", "running", "done", "failed", "purged")
#: What happens to a row whose key matches an existing archive.
ON_EXISTING = ("reject", "fill", "overwrite")


class ImportJob(Base):
    """One import of one file by one user; identified by the file's content hash for resuming."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_user_hash", "user_id", "file_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    department_id: Mapped[str | None] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(200), nullable=False)
    file_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 of the file's bytes
    file_kind: Mapped[str] = mapped_column(String(8), nullable=False)  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(String(20))  # detected encoding of a CSV
    stored_path: Mapped[str | None] = mapped_column(String(400))  # encrypted upload (web), None for CLI files
    dek: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # job data key, wrapped by a master key
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="uploaded")
    mapping: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON: column index → target
    mapping_name: Mapped[str | None] = mapped_column(String(60))
    on_existing: Mapped[str] = mapped_column(String(10), nullable=False, default="reject")
    header_row: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    checkpoint: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # data rows fully handled
    created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    plan: Mapped[str | None] = mapped_column(Text)  # JSON summary of the dry run (counts, update rules)
    error: Mapped[str | None] = mapped_column(String(500))
    # --- legal basis declared by the importer for the whole file (PIPL; one place) ---------------
    basis_purpose: Mapped[str] = mapped_column(String(200), nullable=False)  # free-text description ("" if none)
    #: consent purpose codes (kehu.consent), comma-separated: recorded for every archive the job writes
    basis_purposes: Mapped[str] = mapped_column(String(400), nullable=False, default="", server_default="")
    basis_scope: Mapped[str] = mapped_column(String(200), nullable=False)
    basis_channel: Mapped[str] = mapped_column(String(20), nullable=False)
    basis_notice_version: Mapped[str] = mapped_column(String(40), nullable=False)
    basis_sensitive_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    basis_note: Mapped[str | None] = mapped_column(String(500))
    #: guardian consent obtained for the minors (under 14) in the file; each minor's row names the guardian
    basis_guardian_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                         server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ImportMapping(Base):
    """A named, saved column mapping (file header → field), owned by a user, optionally shared with a department."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    department_id: Mapped[str | None] = mapped_column(String(32))  # shared with this department when set
    columns: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: header text → target ("" = ignore)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ImportIssue(Base):
    """The problems of one row of a job (dry run or commit); a rejected row keeps its cells, sealed."""

    __tablename__ = "import_issues"
    __table_args__ = (Index("ix_import_issues_job", "job_id", "phase", "row_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False)
    phase: Mapped[str] = mapped_column(String(6), nullable=False)  # check | commit
    row_no: Mapped[int] = mapped_column(Integer, nullable=False)  # row number in the file (header = 1)
    errors: Mapped[str] = mapped_column(Text, nullable=False)  # JSON [[field, code, message], …]: no values
    cells: Mapped[bytes | None] = mapped_column(LargeBinary)  # original cells (JSON), sealed with the job key
