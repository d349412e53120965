"""Service: what a client's phone tells us: its push subscription and reminder preferences."""
import re
from datetime import datetime, timezone

from flask_babel import gettext as _
from sqlalchemy import select

from . import push, reminders
from .extensions import db
from .models import PushSubscription
from .registration import Invalid, time_zones

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _utcnow():
    return datetime.now(timezone.utc)


def parse_subscription(data, allowlist):
    """The body of PushSubscription.toJSON(), checked; Invalid naming each bad field."""
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object."})
    errors = {}
    endpoint, keys = data.get("endpoint"), data.get("keys")
    try:
        push.check_endpoint(endpoint, allowlist)
    except push.EndpointError as error:
        errors["endpoint"] = str(error)
    if not isinstance(keys, dict) or not all(
            isinstance(keys.get(k), str) and len(keys[k]) <= 100 for k in ("p256dh", "auth")):
        errors["keys"] = "must hold p256dh and auth as base64url text."
    else:
        try:
            push.check_keys(keys["p256dh"], keys["auth"])
        except push.EndpointError as error:
            errors["keys"] = str(error)
    if errors:
        raise Invalid(errors)
    return endpoint, keys["p256dh"], keys["auth"]


def save(treatment, data, allowlist, now=None):
    """Upsert by endpoint: a subscription belongs to exactly one session. Commits.

    Returns True when it was new. Re-planning follows, since reminders are only planned
    for sessions that can receive them.
    """
    endpoint, p256dh, auth = parse_subscription(data, allowlist)
    now = now or _utcnow()
    row = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    created = row is None
    if created:
        row = PushSubscription(endpoint=endpoint, treatment_id=treatment.id, p256dh=p256dh, auth=auth)
        db.session.add(row)
    else:
        row.treatment_id, row.p256dh, row.auth = treatment.id, p256dh, auth
        row.last_failure = row.retry_after = None
    db.session.flush()
    reminders.replan(treatment, now, commit=False)
    db.session.commit()
    return created


def remove(treatment, endpoint, now=None):
    """Forget a subscription of this session (only of this one). Commits."""
    row = db.session.scalar(select(PushSubscription).where(
        PushSubscription.endpoint == endpoint, PushSubscription.treatment_id == treatment.id))
    if row is not None:
        db.session.delete(row)
        db.session.flush()
        reminders.replan(treatment, now or _utcnow(), commit=False)
        db.session.commit()
    return row is not None


def preferences(treatment):
    return {
        "timezone": treatment.timezone,
        "morning": treatment.morning_at,
        "evening": treatment.evening_at,
        "quiet_start": treatment.quiet_start,
        "quiet_end": treatment.quiet_end,
        "reminders": treatment.reminders_on,
        "subscribed": bool(db.session.scalar(select(PushSubscription.id).where(
            PushSubscription.treatment_id == treatment.id).limit(1))),
    }


def set_preferences(treatment, data, now=None):
    """Change the client's time zone, reminder times, quiet hours, on/off; re-plan. Commits."""
    if not isinstance(data, dict):
        raise Invalid({"body": "must be a JSON object."})
    errors, values = {}, {}
    unknown = set(data) - {"timezone", "morning", "evening", "quiet_start", "quiet_end", "reminders"}
    if unknown:
        errors["body"] = f"unknown field(s): {', '.join(sorted(unknown))}."
    if "timezone" in data:
        if not isinstance(data["timezone"], str) or data["timezone"] not in time_zones():
            errors["timezone"] = _("must be an IANA time zone such as Europe/London.")
        else:
            values["timezone"] = data["timezone"]
    for field, column, nullable in (("morning", "morning_at", False), ("evening", "evening_at", False),
                                    ("quiet_start", "quiet_start", True),
                                    ("quiet_end", "quiet_end", True)):
        if field not in data:
            continue
        value = data[field]
        if value is None and nullable:
            values[column] = None
        elif isinstance(value, str) and HHMM.match(value):
            values[column] = value
        else:
            errors[field] = (_("must be a time as HH:MM, e.g. 08:30, or empty.") if nullable
                             else _("must be a time as HH:MM, e.g. 08:30."))
    if "reminders" in data:
        if not isinstance(data["reminders"], bool):
            errors["reminders"] = _("must be true or false.")
        else:
            values["reminders_on"] = data["reminders"]
    quiet = (values.get("quiet_start", treatment.quiet_start), values.get("quiet_end", treatment.quiet_end))
    if (quiet[0] is None) != (quiet[1] is None):
        errors["quiet_start"] = _("quiet hours need both a start and an end (or neither).")
    if errors:
        raise Invalid(errors)
    for column, value in values.items():
        setattr(treatment, column, value)
    reminders.replan(treatment, now or _utcnow(), commit=False)
    db.session.commit()
    return preferences(treatment)


def set_language(treatment, language, now=None):
    """The client reads in `language` from now on: pushes not yet sent follow it. Commits."""
    treatment.language = language
    reminders.replan(treatment, now or _utcnow(), commit=False)
    db.session.commit()
