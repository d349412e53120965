"""Staff portal (being built)."""
from flask import Blueprint

bp = Blueprint("clinic", __name__, url_prefix="/clinic")
