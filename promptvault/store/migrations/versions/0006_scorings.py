"""scorings and cell scores

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('scorings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('checks', JSON_TYPE, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('judge_calls', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Double(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_scorings_run', 'scorings', ['run_id', 'id'], unique=False)
    op.create_table('cell_scores',
    sa.Column('scoring_id', sa.Integer(), nullable=False),
    sa.Column('cell_key', sa.String(length=1000), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('results', JSON_TYPE, nullable=False),
    sa.ForeignKeyConstraint(['scoring_id'], ['scorings.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scoring_id', 'cell_key')
    )


def downgrade() -> None:
    op.drop_table('cell_scores')
    op.drop_index('ix_scorings_run', table_name='scorings')
    op.drop_table('scorings')
