"""Unbound extensions; bound to the app in create_app()."""
from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

#: every form posted with a browser's cookies carries a token (Flask-WTF)
csrf = CSRFProtect()

#: catalogues and the page's language (see i18n.py for how it is chosen)
babel = Babel()

#: schema changes as Alembic migrations in companion/migrations (`flask --app companion db ...`)
migrate = Migrate()
