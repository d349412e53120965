"""gunicorn settings for production serving (bin/serve; docs/deploy.md).

    gunicorn -c python:companion.gunicorn_conf "companion:create_app()"

Environment: COMPANION_BIND (default 127.0.0.1:8000: behind a reverse proxy on this host),
WEB_CONCURRENCY (workers, default 2 x cores + 1), COMPANION_FORWARDED_ALLOW_IPS (the proxy's
address, trusted for X-Forwarded-Proto), COMPANION_LOG_FORMAT=json.
"""
import multiprocessing
import os

bind = os.environ.get("COMPANION_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
# Sync workers: every request is short and database-bound; slow clients wait at the proxy.
worker_class = "sync"
timeout = 30
graceful_timeout = 20
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("COMPANION_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Web workers never send reminders: `flask --app companion scheduler` processes do.
raw_env = ["COMPANION_SCHEDULER=off"]
os.environ["COMPANION_SCHEDULER"] = "off"

_json = os.environ.get("COMPANION_LOG_FORMAT", "text").lower() == "json"
# The access log carries each request line: /s/<token> links are redacted like every log.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "companion.logs.RedactingFilter"}},
    "formatters": {
        "json": {"()": "companion.logs.json_formatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "filters": ["redact"],
                   "formatter": "json" if _json else "text", "stream": "ext://sys.stderr"},
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
