"""Service: clinics, their settings and their own protocol defaults."""
import re
from datetime import datetime, timezone

from flask_babel import gettext as _
from sqlalchemy import select

from . import i18n, protocols, reminders
from .extensions import db
from .models import Clinic
from .registration import (CONTROL, Invalid, Sentence, WEEKS_MAX, merge_form, parse_overrides,
                           time_zones)

DEMO_NAME = "Demo Skin Clinic"
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,38}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]{1,490}$", re.IGNORECASE)
STEP_TIMES = ("morning", "anytime", "evening")
EXTRA_STEPS_MAX = 5


def create(name, *, phone=None, timezone="UTC", booking_url=None, emergency_text=None):
    """A new clinic. Commits."""
    values = parse_settings({"name": name, "phone": phone, "timezone": timezone,
                             "booking_url": booking_url, "emergency_text": emergency_text})
    clinic = Clinic(**values)
    db.session.add(clinic)
    db.session.commit()
    return clinic


def update(clinic, data):
    """Change a clinic's settings and protocol defaults; nothing changes unless all are valid. Commits."""
    values = parse_settings(data, partial=True)
    for field, value in values.items():
        setattr(clinic, field, value)
    db.session.flush()
    if "protocol_overrides" in values:
        # Pending reminders follow the clinic's new durations and intervals.
        reminders.replan_clinic(clinic.id, datetime.now(timezone.utc))
    db.session.commit()
    return clinic


def parse_settings(data, partial=False):
    """Clean settings, or Invalid naming each bad field (in the request's language)."""
    errors, values = {}, {}

    def text(field, limit, required=False, pattern=None, hint="", multiline=False):
        if partial and field not in data:
            return
        value = data.get(field)
        value = value.strip() if isinstance(value, str) else value
        if value in (None, ""):
            if required:
                errors[field] = _("is required.")
            else:
                values[field] = None
            return
        if not isinstance(value, str) or len(value) > limit:
            errors[field] = _("must be text of at most %(limit)s characters.", limit=limit)
        elif CONTROL.search(value.replace("\r\n", "\n").replace("\n", "") if multiline else value):
            errors[field] = (_("contains control characters.") if multiline
                             else _("contains control characters or line breaks."))
        elif pattern and not pattern.match(value):
            errors[field] = hint
        else:
            values[field] = value

    text("name", 120, required=True)
    text("phone", 40, pattern=PHONE_RE, hint=_("must be a phone number, e.g. +44 20 7946 0000."))
    text("booking_url", 500, pattern=URL_RE,
         hint=_("must be a web address starting with https://."))
    text("emergency_text", 500, multiline=True)
    if not partial or "timezone" in data:
        zone = data.get("timezone") or "UTC"
        if not isinstance(zone, str) or zone not in time_zones():
            errors["timezone"] = _("must be an IANA time zone such as Europe/London.")
        values["timezone"] = zone
    if not partial or "language" in data:
        language = data.get("language") or i18n.DEFAULT
        if language not in i18n.LANGUAGES:
            errors["language"] = _("must be one of %(choices)s.", choices=", ".join(i18n.LANGUAGES))
        values["language"] = language
    if "protocol_overrides" in data:
        values["protocol_overrides"] = parse_protocol_defaults(data["protocol_overrides"], errors)
    if errors:
        raise Invalid(errors)
    return values


def parse_protocol_defaults(value, errors):
    """A clinic's defaults: restriction durations, the session interval, extra daily steps."""
    if value in (None, {}):
        return None
    if not isinstance(value, dict) or set(value) - {"restrictions", "interval_weeks", "steps"}:
        errors["protocol_overrides"] = _("may set restrictions, interval_weeks and steps.")
        return None
    merged = merge_form(parse_overrides({"restrictions": value.get("restrictions") or {}},
                                        "microneedling", errors, field="protocol_overrides"))
    weeks = value.get("interval_weeks")
    if weeks not in (None, ""):
        if isinstance(weeks, str) and weeks.strip().isdigit():
            weeks = int(weeks)
        if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= WEEKS_MAX:
            errors["protocol_overrides.interval_weeks"] = _(
                "must be a whole number from 1 to %(max)s.", max=WEEKS_MAX)
        else:
            base = protocols.raw("microneedling")["series"]
            merged["series"] = {"interval_weeks": weeks,
                                "interval_weeks_max": max(weeks, base["interval_weeks_max"])}
    steps = _extra_steps(value.get("steps") or [], errors)
    if steps:
        merged["steps"] = steps
    if merged and not errors:
        try:
            protocols.parse(protocols.merge(protocols.raw("microneedling"), merged), "clinic defaults")
        except protocols.ProtocolError as error:
            errors["protocol_overrides"] = Sentence("; ".join(error.problems))
    return merged or None


def _extra_steps(steps, errors):
    if not isinstance(steps, list) or len(steps) > EXTRA_STEPS_MAX:
        errors["protocol_overrides.steps"] = _("must be a list of at most %(max)s steps.",
                                               max=EXTRA_STEPS_MAX)
        return []
    clean = []
    for n, step in enumerate(steps, 1):
        where = f"protocol_overrides.steps[{n}]"
        if not isinstance(step, dict):
            errors[where] = _("must be an object with title, text, from_day, to_day and time.")
            continue
        title, text = step.get("title"), step.get("text")
        if not (isinstance(title, str) and 0 < len(title.strip()) <= 80):
            errors[f"{where}.title"] = _("is required (at most %(max)s characters).", max=80)
        if not (isinstance(text, str) and 0 < len(text.strip()) <= 300):
            errors[f"{where}.text"] = _("is required (at most %(max)s characters).", max=300)
        days = []
        for field in ("from_day", "to_day"):
            day = step.get(field)
            if isinstance(day, str) and day.strip().isdigit():
                day = int(day)
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 60:
                errors[f"{where}.{field}"] = _("must be a day number from 0 to 60.")
            days.append(day)
        if step.get("time") not in STEP_TIMES:
            errors[f"{where}.time"] = _("must be one of %(choices)s.",
                                        choices=", ".join(STEP_TIMES))
        if where + ".title" not in errors and where + ".text" not in errors:
            clean.append({"id": f"clinic-{n}", "title": title.strip(), "text": text.strip(),
                          "from_day": days[0], "to_day": days[1], "time": step.get("time")})
    return clean


def by_id(clinic_id):
    return db.session.get(Clinic, clinic_id)


def demo_clinic():
    """The demo clinic, created on first use and reused after."""
    clinic = db.session.scalar(select(Clinic).where(Clinic.name == DEMO_NAME))
    return clinic or create(
        DEMO_NAME,
        # A number reserved for drama by Ofcom: it looks real and reaches nobody.
        phone="+44 20 7946 0000",
        timezone="Europe/London",
        booking_url="https://example.com/book",
        emergency_text="If you have trouble breathing or your face or throat swells, call 999 now.",
    )
