"""The serving benchmark's baseline: the least a Flask app can do behind the same gunicorn.

    gunicorn -c python:companion.gunicorn_conf --pythonpath bench "trivial:create_app()"
"""
from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.get("/")
    def hello():
        """A short text: routing, a response object and the WSGI round trip, nothing else."""
        return "Hello from a trivial Flask app.\n", 200, {"Content-Type": "text/plain"}

    return app
