"""imports: import jobs (checkpoint, declared legal basis), saved column mappings, per-row issues

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kehu.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('file_hash', sa.String(length=64), nullable=False),
    sa.Column('file_kind', sa.String(length=8), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=True),
    sa.Column('stored_path', sa.String(length=400), nullable=True),
    sa.Column('dek', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('mapping', sa.Text(), nullable=False),
    sa.Column('mapping_name', sa.String(length=60), nullable=True),
    sa.Column('on_existing', sa.String(length=10), nullable=False),
    sa.Column('header_row', sa.Integer(), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=True),
    sa.Column('checkpoint', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('basis_purpose', sa.String(length=200), nullable=False),
    sa.Column('basis_scope', sa.String(length=200), nullable=False),
    sa.Column('basis_channel', sa.String(length=20), nullable=False),
    sa.Column('basis_notice_version', sa.String(length=40), nullable=False),
    sa.Column('basis_sensitive_consent', sa.Boolean(), nullable=False),
    sa.Column('basis_note', sa.String(length=500), nullable=True),
    sa.Column('created_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', kehu.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_jobs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_import_jobs_user_hash', ['user_id', 'file_hash'], unique=False)

    op.create_table('import_mappings',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.String(length=32), nullable=True),
    sa.Column('columns', sa.Text(), nullable=False),
    sa.Column('updated_at', kehu.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_import_mappings_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_mappings')),
    sa.UniqueConstraint('owner_id', 'name', name=op.f('uq_import_mappings_owner_id'))
    )
    op.create_table('import_issues',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('phase', sa.String(length=6), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Text(), nullable=False),
    sa.Column('cells', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], name=op.f('fk_import_issues_job_id_import_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_issues'))
    )
    with op.batch_alter_table('import_issues', schema=None) as batch_op:
        batch_op.create_index('ix_import_issues_job', ['job_id', 'phase', 'row_no'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('import_issues', schema=None) as batch_op:
        batch_op.drop_index('ix_import_issues_job')

    op.drop_table('import_issues')
    op.drop_table('import_mappings')
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_import_jobs_user_hash')

    op.drop_table('import_jobs')
