"""job retries: a job records the failed or cancelled job it retries (at most one retry per job)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retry_of', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_retry_of'), ['retry_of'], unique=True)
        batch_op.create_foreign_key(
            'fk_jobs_retry_of_jobs', 'jobs', ['retry_of'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_jobs_retry_of_jobs', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_jobs_retry_of'))
        batch_op.drop_column('retry_of')
