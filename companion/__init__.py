"""companion: the aftercare companion for microneedling clients."""
import os

from flask import Flask

from . import (api, cli, client, clinic_api, config, database, errors, health, i18n, logs, portal,
               pwa, scheduler, security)
from .extensions import csrf, db


def create_app(test_config=None):
    """Build the app: configuration, extensions, blueprints, commands. No logic here."""
    test_config = dict(test_config or {})
    app = Flask(
        __name__,
        instance_path=test_config.pop("INSTANCE_PATH", None) or os.environ.get("COMPANION_INSTANCE_PATH"),
        instance_relative_config=True,
        static_folder=str(config.PROJECT_ROOT / "static"),
        template_folder=str(config.PROJECT_ROOT / "templates"),
    )
    config.init_app(app, test_config)
    logs.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    security.init_app(app)  # headers and rate limits, by endpoint: after the blueprints
    cli.init_app(app)
    scheduler.init_app(app)  # starts only under `flask run`, see scheduler.py
    return app


def register_extensions(app):
    db.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    database.init_app(app)


def register_blueprints(app):
    for module in (client, portal, api, clinic_api, pwa, health):
        app.register_blueprint(module.bp)
    # The API authenticates with bearer tokens, never cookies: nothing to forge.
    csrf.exempt(api.bp)
    csrf.exempt(clinic_api.bp)
    errors.init_app(app)
