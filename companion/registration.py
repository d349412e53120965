"""What a clinic may send to register a session: checked field by field, in words people read.

One parser serves the staff form and the JSON API, so both refuse the same things the same
way. It returns clean values or a dict of field -> message; nothing is stored here.
"""
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import available_timezones

from babel.numbers import format_decimal
from flask_babel import get_locale, gettext as _, ngettext

from . import protocols

NAME_MAX = 40
NOTE_MAX = 500
AREA_MAX, AREAS_MAX = 40, 8
SERIES_MAX = 12
WEEKS_MAX = 26
DEPTH_MAX_MM = 3.0
RESTRICTION_HOURS_MAX = 24 * 90
#: a session registered ahead of time is fine; one next month is a typo
FUTURE_LIMIT = timedelta(hours=24)
PAST_LIMIT = timedelta(days=365)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELDS = ("client_name", "treated_at", "timezone", "protocol", "series_index", "series_total",
          "next_session_weeks", "areas", "needle_depth_mm", "overrides", "note",
          "previous_session_id")


@lru_cache(maxsize=1)
def time_zones():
    return frozenset(available_timezones())


class Invalid(ValueError):
    """Bad input; `fields` maps each bad field to what is wrong with it.

    Most messages read after the field's name ("is required."); a `Sentence` reads on its own.
    They are in the language of the request (gettext at the time of parsing): English for an
    API client that asks for no language.
    """

    def __init__(self, fields):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class Sentence(str):
    """A field's message that does not read after the field's name."""


def _number(value):
    """A decimal as the page's language writes it: 3.0, 3,0."""
    return format_decimal(value, format="0.0##", locale=str(get_locale() or "en"))


def _text(value, field, limit, errors, required=False):
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field] = _("is required.")
        return None
    if not isinstance(value, str):
        errors[field] = _("must be text.")
        return None
    value = value.strip()
    if len(value) > limit:
        errors[field] = _("must be at most %(limit)s characters.", limit=limit)
    elif CONTROL.search(value.replace("\n", "").replace("\r", "")):
        errors[field] = _("contains control characters.")
    return value


def _int(value, field, low, high, errors, unit=None):
    if value is None or value == "":
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,6}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = _("must be a whole number.")
        return None
    if not low <= value <= high:
        errors[field] = {
            None: _("must be between %(low)s and %(high)s.", low=low, high=high),
            "hours": _("must be between %(low)s and %(high)s hours.", low=low, high=high),
            "days": _("must be between %(low)s and %(high)s days.", low=low, high=high),
        }[unit]
        return None
    return value


def parse_instant(value, field, errors, now):
    """ISO 8601 with an offset, e.g. 2026-11-20T18:30:00+00:00; not far in the future."""
    if value is None or value == "":
        errors[field] = _("is required.")
        return None
    moment = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
    if moment is None:
        errors[field] = _("must be an ISO 8601 date and time with offset, "
                          "e.g. 2026-11-20T18:30:00+01:00.")
        return None
    if moment.tzinfo is None:
        errors[field] = _("needs a UTC offset (e.g. +01:00 or Z), so the time is not ambiguous.")
        return None
    moment = moment.astimezone(timezone.utc)
    if moment > now + FUTURE_LIMIT:
        errors[field] = _("is more than a day in the future.")
    elif moment < now - PAST_LIMIT:
        errors[field] = _("is more than a year ago.")
    return moment


def parse_overrides(value, protocol_id, errors, field="overrides"):
    """Checked per-session changes, kept as sent: {"restrictions": {"heat": {"days": 5}}}."""
    if value in (None, {}, ""):
        return None
    if not isinstance(value, dict) or set(value) - {"restrictions"}:
        errors[field] = _('must look like {"restrictions": {"<id>": {"days": 5}}}.')
        return None
    wanted = value.get("restrictions") or {}
    if not isinstance(wanted, dict):
        errors[f"{field}.restrictions"] = _(
            'must map restriction ids to {"hours": n} or {"days": n}.')
        return None
    known = {r["id"] for r in protocols.raw(protocol_id)["restrictions"]}
    clean = {}
    for rid, duration in wanted.items():
        where = f"{field}.restrictions.{rid}"
        if rid not in known:
            errors[where] = _("is not a restriction of this protocol (known: %(known)s).",
                              known=", ".join(sorted(known)))
            continue
        if not isinstance(duration, dict) or len(duration) != 1 or set(duration) - {"hours", "days"}:
            errors[where] = _('must be {"hours": n} or {"days": n}.')
            continue
        (unit, amount), = duration.items()
        high = RESTRICTION_HOURS_MAX if unit == "hours" else RESTRICTION_HOURS_MAX // 24
        amount = _int(amount, f"{where}.{unit}", 1, high, errors, unit=unit)
        if amount is not None:
            clean[rid] = {unit: amount}
    return {"restrictions": clean} if clean else None


def merge_form(overrides):
    """Overrides as sent -> the form protocols.merge() takes (the other unit cleared)."""
    items = []
    for rid, duration in ((overrides or {}).get("restrictions") or {}).items():
        (unit, amount), = duration.items()
        items.append({"id": rid, unit: amount, "days" if unit == "hours" else "hours": None})
    return {"restrictions": items} if items else {}


def parse_session(data, *, clinic_timezone, now):
    """Clean values for treatments.create(), or Invalid naming each bad field."""
    if not isinstance(data, dict):
        raise Invalid({"body": _("must be a JSON object.")})
    errors = {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors["body"] = Sentence(ngettext(
            "unknown field: %(names)s.", "unknown fields: %(names)s.", len(unknown),
            names=", ".join(unknown)))
    values = {
        "client_name": _text(data.get("client_name"), "client_name", NAME_MAX, errors, required=True),
        "treated_at": parse_instant(data.get("treated_at"), "treated_at", errors, now),
        "note": _text(data.get("note"), "note", NOTE_MAX, errors),
    }
    if values["client_name"] and "@" in values["client_name"]:
        errors["client_name"] = Sentence(
            _("a first name or nickname is enough (no e-mail addresses)."))

    # Absent: the clinic's zone, or the zone of the session this one continues.
    zone = data.get("timezone") or None
    if zone is not None and (not isinstance(zone, str) or zone not in time_zones()):
        errors["timezone"] = _("must be an IANA time zone such as Europe/London.")
    values["timezone_name"] = zone

    protocol_id = data.get("protocol") or "microneedling"
    if not isinstance(protocol_id, str) or protocol_id not in protocols.available():
        errors["protocol"] = _("must be one of: %(choices)s.",
                               choices=", ".join(protocols.available()))
        protocol_id = None
    values["protocol_id"] = protocol_id

    values["series_index"] = _int(data.get("series_index"), "series_index", 1, SERIES_MAX, errors) or 1
    values["series_total"] = _int(data.get("series_total"), "series_total", 1, SERIES_MAX, errors)
    if values["series_total"] and values["series_index"] > values["series_total"]:
        # Translators: series_total is the name of a field of the API; keep it as it is.
        errors["series_index"] = _("cannot be greater than series_total.")
    values["next_session_weeks"] = _int(
        data.get("next_session_weeks"), "next_session_weeks", 1, WEEKS_MAX, errors)
    values["previous_id"] = _int(data.get("previous_session_id"), "previous_session_id", 1,
                                 2**62, errors)
    values["areas"] = _areas(data.get("areas"), errors)
    values["needle_depth_mm"] = _depth(data.get("needle_depth_mm"), errors)
    if protocol_id:
        values["overrides"] = parse_overrides(data.get("overrides"), protocol_id, errors)
    if errors:
        raise Invalid(errors)
    return values


def _areas(value, errors):
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list) or len(value) > AREAS_MAX or not all(
            isinstance(a, str) and 0 < len(a.strip()) <= AREA_MAX for a in value):
        errors["areas"] = _(
            "must be a list of up to %(count)s names of %(length)s characters at most.",
            count=AREAS_MAX, length=AREA_MAX)
        return None
    return [a.strip() for a in value]


def _depth(value, errors):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value.replace(",", "."))
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        errors["needle_depth_mm"] = _("must be a number of millimetres, e.g. %(example)s.",
                                      example=_number(1.5))
        return None
    if not 0 < value <= DEPTH_MAX_MM:
        errors["needle_depth_mm"] = _("must be more than 0 and at most %(max)s mm.",
                                      max=_number(DEPTH_MAX_MM))
        return None
    return round(float(value), 2)
