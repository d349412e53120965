"""Deleted sessions: what is left of a session after it was deleted (a tombstone)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('deleted_sessions',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_by', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deleted_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deleted_sessions_clinic_id'), ['clinic_id'], unique=False)



def downgrade():
    with op.batch_alter_table('deleted_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deleted_sessions_clinic_id'))

    op.drop_table('deleted_sessions')
