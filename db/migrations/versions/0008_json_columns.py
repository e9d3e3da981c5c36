"""runs.params_json, runs.metrics_json and jobs.payload_json become JSON columns named params, metrics and
payload (the store, not each caller, turns them into text and back); an empty or missing text becomes {}

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 11:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# (table, text column before, JSON column after)
COLUMNS = (
    ('runs', 'params_json', 'params'),
    ('runs', 'metrics_json', 'metrics'),
    ('jobs', 'payload_json', 'payload'),
)


def upgrade() -> None:
    for table, old, new in COLUMNS:
        op.execute(f"UPDATE {table} SET {old} = '{{}}' WHERE {old} IS NULL OR TRIM({old}) = ''")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                old, existing_type=sa.Text(), existing_nullable=False, type_=sa.JSON(), postgresql_using=f'{old}::json'
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(old, new_column_name=new, existing_type=sa.JSON(), existing_nullable=False)


def downgrade() -> None:
    for table, old, new in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(new, new_column_name=old, existing_type=sa.JSON(), existing_nullable=False)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(old, existing_type=sa.JSON(), existing_nullable=False, type_=sa.Text(), postgresql_using=f'{old}::text')
