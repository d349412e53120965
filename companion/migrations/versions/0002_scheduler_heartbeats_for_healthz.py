"""Scheduler heartbeats for /healthz

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scheduler_heartbeats',
    sa.Column('dispatcher_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dispatcher_id')
    )
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduler_heartbeats_beat_at'), ['beat_at'], unique=False)



def downgrade():
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduler_heartbeats_beat_at'))

    op.drop_table('scheduler_heartbeats')
