"""Alembic environment: the app's engine and models; batch mode on SQLite (ALTER is limited)."""
import logging

from alembic import context
from flask import current_app

log = logging.getLogger("alembic.env")
config = context.config
migrate = current_app.extensions["migrate"]


def run_migrations_offline():
    context.configure(url=migrate.db.engine.url, target_metadata=migrate.db.metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def render_item(type_, obj, autogen_context):
    """UTCDateTime is a timestamp with time zone to the database: write it so in migrations."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online():
    def skip_empty(context, revision, directives):
        # `flask db migrate` with no model change writes no empty revision
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            log.info("No changes in schema detected.")

    options = dict(migrate.configure_args)
    options.setdefault("process_revision_directives", skip_empty)
    options.setdefault("render_item", render_item)
    with migrate.db.engine.connect() as connection:
        options.setdefault("render_as_batch", connection.dialect.name == "sqlite")
        context.configure(connection=connection, target_metadata=migrate.db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
