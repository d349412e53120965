"""Service: the client's daily check-in (check, judge by the protocol's rules, store once)
and the clinic's follow-up of the ones that need it.

The client's note is for the clinic only: it is never logged and never put in a push.
"""
import logging
import re
import uuid
from datetime import datetime, timedelta, timezone

from flask_babel import force_locale, get_translations
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from . import careplan, checkrules, i18n, treatments
from .checkrules import FLAGGED, LEVELS, SIGNS, SYMPTOMS
from .extensions import db
from .models import CheckIn, Treatment
from .registration import CONTROL, Invalid

log = logging.getLogger(__name__)

FIELDS = (*SYMPTOMS, "signs", "note", "client_id", "answered_at")
NOTE_MAX = 300
#: a phone whose clock runs a little fast still checks in "now"
CLOCK_SKEW = timedelta(minutes=5)
HISTORY_MAX = 100
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
INSTANT_HINT = "must be an ISO 8601 date and time with offset, e.g. 2026-11-20T18:30:00+01:00."


class NotFound(LookupError):
    """No check-in with this id in this clinic (another clinic's is just as absent)."""


def utcnow():
    return datetime.now(timezone.utc)


# -- The client's side ------------------------------------------------------------------------


def parse(data, treated_at, now):
    """Clean values of a check-in body, or Invalid naming each bad field."""
    errors = {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors["body"] = f"unknown field(s): {', '.join(unknown)}."
    values = {}
    for symptom in SYMPTOMS:
        level = data.get(symptom)
        if level is None:
            errors[symptom] = f"is required: one of {', '.join(LEVELS)}."
        elif not isinstance(level, str) or level not in LEVELS:
            errors[symptom] = f"must be one of {', '.join(LEVELS)}."
        values[symptom] = level
    values["signs"] = _signs(data.get("signs"), errors)
    values["note"] = _note(data.get("note"), errors)
    values["client_id"] = _client_id(data.get("client_id"), errors)
    values["answered_at"] = _answered_at(data.get("answered_at"), treated_at, now, errors)
    if errors:
        raise Invalid(errors)
    return values


def _signs(value, errors):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        errors["signs"] = f"must be a list of: {', '.join(SIGNS)}."
        return []
    if set(value) - set(SIGNS):
        errors["signs"] = f"may only contain: {', '.join(SIGNS)}."
        return []
    return [s for s in SIGNS if s in value]


def _note(value, errors):
    # Messages never quote the note: error bodies may end up in logs.
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        errors["note"] = "must be text."
        return None
    value = value.strip()
    if len(value) > NOTE_MAX:
        errors["note"] = f"must be at most {NOTE_MAX} characters."
    elif CONTROL.search(value.replace("\r\n", "\n").replace("\n", " ")):
        errors["note"] = "contains control characters."
    return value


def _client_id(value, errors):
    if value is None:
        return None
    if not isinstance(value, str) or not UUID_RE.match(value):
        errors["client_id"] = "must be a UUID such as 3f2b8c1e-7d4a-4b9e-9c2f-1a2b3c4d5e6f."
        return None
    return str(uuid.UUID(value))


def _answered_at(value, treated_at, now, errors):
    if value is None:
        return now
    if not isinstance(value, str) or len(value) > 40:
        errors["answered_at"] = INSTANT_HINT
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors["answered_at"] = INSTANT_HINT
        return None
    if moment.tzinfo is None:
        errors["answered_at"] = "needs a UTC offset (e.g. +01:00 or Z): the time is ambiguous."
        return None
    moment = moment.astimezone(timezone.utc)
    if moment > now + CLOCK_SKEW:
        errors["answered_at"] = "is in the future."
    elif moment < treated_at:
        errors["answered_at"] = "is before the treatment."
    return min(moment, now)


def record(treatment, data, now=None):
    """Judge and store a check-in; the same client_id again returns the stored one.

    Returns (check_in, created). Commits.
    """
    now = now or utcnow()
    values = parse(data, treatment.treated_at, now)
    if values["client_id"]:
        existing = _by_client_id(treatment.id, values["client_id"])
        if existing is not None:
            return existing, False
    # The reply is stored, so it is written once, in the client's language.
    with force_locale(i18n.language_of(treatment)):
        protocol = treatments.protocol_for(treatment)
        words = get_translations()
    answered_at = values["answered_at"]
    day = careplan.recovery_day(treatment.treated_at, treatment.timezone, answered_at)
    earlier = db.session.scalars(
        select(CheckIn)
        .where(CheckIn.treatment_id == treatment.id, CheckIn.answered_at < answered_at)
        .order_by(CheckIn.answered_at, CheckIn.id))
    outcome, reasons = checkrules.judge(
        protocol.checkin, day, answers_of(values), [(c.day, answers_of(c)) for c in earlier],
        t=words)
    clinic = treatment.clinic
    check_in = CheckIn(
        treatment_id=treatment.id, client_id=values["client_id"], answered_at=answered_at,
        received_at=now, day=day, in_recovery=0 <= day <= protocol.expected_recovery_days,
        **{s: values[s] for s in SYMPTOMS}, signs=values["signs"], note=values["note"],
        outcome=outcome, reasons=[_reason(r) for r in reasons],
        message=checkrules.message(
            outcome, day, treatment_name=protocol.name,
            recovery_days=protocol.expected_recovery_days,
            clinic_name=clinic.name, clinic_phone=clinic.phone, t=words),
        protocol_version=protocol.version,
    )
    db.session.add(check_in)
    try:
        db.session.commit()
    except IntegrityError:
        # The same offline check-in arrived twice at once: the other request stored it.
        db.session.rollback()
        existing = values["client_id"] and _by_client_id(treatment.id, values["client_id"])
        if not existing:
            raise
        return existing, False
    if outcome in FLAGGED:
        log.info("check-in %s of session %s needs the clinic: %s",
                 check_in.id, treatment.id, outcome)
    return check_in, True


def answers_of(source):
    """checkrules.Answers from a stored check-in or from parsed values."""
    get = source.get if isinstance(source, dict) else lambda name: getattr(source, name)
    return checkrules.Answers(**{s: get(s) for s in SYMPTOMS}, signs=frozenset(get("signs") or ()))


def _reason(reason):
    return {"kind": reason.kind, "subject": reason.subject, "outcome": reason.outcome,
            "text": reason.text}


def _by_client_id(treatment_id, client_id):
    return db.session.scalar(select(CheckIn).where(
        CheckIn.treatment_id == treatment_id, CheckIn.client_id == client_id))


def history(treatment):
    """The session's check-ins, newest first (the latest HISTORY_MAX)."""
    return list(db.session.scalars(
        select(CheckIn).where(CheckIn.treatment_id == treatment.id)
        .order_by(CheckIn.answered_at.desc(), CheckIn.id.desc()).limit(HISTORY_MAX)))


# -- The clinic's side --------------------------------------------------------------------------


def is_flagged(check_in):
    """Needs the clinic and nobody has marked it handled yet."""
    return check_in.outcome in FLAGGED and check_in.handled_at is None


def page_for_clinic(clinic_id, *, flagged=None, outcome=None, handled=None, since=None,
                    page=1, per_page=20):
    """The clinic's check-ins, newest first: (items, total).

    flagged=True: contact_clinic or emergency and not handled yet; False: all the others.
    """
    query = (select(CheckIn).join(CheckIn.treatment).options(contains_eager(CheckIn.treatment))
             .where(Treatment.clinic_id == clinic_id))
    if flagged is True:
        query = query.where(CheckIn.outcome.in_(FLAGGED), CheckIn.handled_at.is_(None))
    elif flagged is False:
        query = query.where(or_(CheckIn.outcome.not_in(FLAGGED), CheckIn.handled_at.is_not(None)))
    if outcome is not None:
        query = query.where(CheckIn.outcome == outcome)
    if handled is not None:
        done = CheckIn.handled_at.is_not(None)
        query = query.where(done if handled else ~done)
    if since is not None:
        query = query.where(CheckIn.answered_at >= since)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(query.order_by(CheckIn.answered_at.desc(), CheckIn.id.desc())
                               .limit(per_page).offset((page - 1) * per_page))
    return list(items), total


def get_for_clinic(clinic_id, check_in_id):
    valid = isinstance(check_in_id, int) and 0 < check_in_id < 2**63
    check_in = db.session.get(CheckIn, check_in_id) if valid else None
    if check_in is None or check_in.treatment.clinic_id != clinic_id:
        raise NotFound()
    return check_in


def mark_handled(clinic_id, check_in_id, by, now=None):
    """The clinic has followed it up; the first time counts. Commits."""
    check_in = get_for_clinic(clinic_id, check_in_id)
    if check_in.handled_at is None:
        check_in.handled_at = now or utcnow()
        check_in.handled_by = by
        db.session.commit()
    return check_in
