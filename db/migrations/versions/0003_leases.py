"""leases: runs and jobs record the process that holds them and until when, so a dead one is recovered;
runs record who queued them; per-image embeddings are no longer written to SQL (the artifact has them)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('runs', 'jobs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('worker_id', sa.String(length=200), nullable=True))
            batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_by', sa.String(length=100), nullable=True))
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.alter_column('embedding', existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('queued_by')
    for table in ('jobs', 'runs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('lease_expires_at')
            batch_op.drop_column('worker_id')
