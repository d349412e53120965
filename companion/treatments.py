"""Service: create treatment sessions, find them by link or short code, build their plan."""
import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from sqlalchemy import delete, func, select

from . import careplan, i18n, protocols, registration
from .extensions import db
from .models import DeletedSession, PushSubscription, Reminder, Treatment

#: Crockford base32 without I, L, O, U: nothing a client can misread on a printed card.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
TOKEN_BYTES = 24  # 192 bits, 32 URL-safe characters
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
#: how often a page view may write last_seen_at
SEEN_RESOLUTION = timedelta(minutes=5)


class LinkNotFound(LookupError):
    """No session behind this token or code (or it belongs to someone else)."""


class LinkRevoked(LookupError):
    """The clinic withdrew this link."""


class SessionDeleted(LinkNotFound):
    """The session was deleted; `tombstone` (models.DeletedSession) says when and by whom.

    A LinkNotFound, so that whatever does not ask about deletions treats it as absent."""

    def __init__(self, tombstone):
        super().__init__(tombstone.id)
        self.tombstone = tombstone


def new_token():
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_short_code():
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_short_code(code):
    """ABCD-EFGH: two groups read aloud or typed more easily than eight letters."""
    return f"{code[:4]}-{code[4:]}"


def normalise_short_code(text):
    """What a person typed -> the stored form, or None when it cannot be a code."""
    cleaned = re.sub(r"[\s\-_.]", "", text or "").upper()
    cleaned = cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
    if len(cleaned) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in cleaned):
        return None
    return cleaned


def create(clinic, *, client_name, treated_at, timezone_name=None, protocol_id="microneedling",
           series_index=1, series_total=None, next_session_weeks=None, overrides=None, note=None,
           areas=None, needle_depth_mm=None, previous_id=None):
    """Register a session; the caller has validated the input (registration.py). Commits.

    With `previous_id` (a live session of the same clinic) the new session continues the
    series on the same client link: it takes over the link, the short code, the phones and
    the reminder preferences; the earlier session stays as history under a retired link.
    """
    protocols.load(protocol_id)  # an unknown protocol must never be stored
    previous = None
    if previous_id is not None:
        previous = get_for_clinic(clinic.id, previous_id)
        if previous.revoked_at is not None:
            raise LinkRevoked()
        timezone_name = timezone_name or previous.timezone
    treatment = Treatment(
        clinic=clinic,
        token=new_token(),
        short_code=new_short_code(),
        client_name=client_name,
        treated_at=treated_at,
        timezone=timezone_name or clinic.timezone,
        protocol_id=protocol_id,
        series_index=series_index,
        series_total=series_total,
        next_session_weeks=next_session_weeks,
        overrides=overrides,
        note=note,
        areas=areas,
        needle_depth_mm=needle_depth_mm,
    )
    if db.engine.dialect.name == "sqlite":
        # SQLite numbers a new row max(id) + 1: once the newest session was deleted, its id
        # would come back, and whoever still holds it would find another client's session.
        # One statement, so concurrent registrations cannot pick the same number.
        treatment.id = select(func.max(
            func.coalesce(select(func.max(Treatment.id)).scalar_subquery(), 0),
            func.coalesce(select(func.max(DeletedSession.id)).scalar_subquery(), 0)) + 1
        ).scalar_subquery()
    db.session.add(treatment)
    if previous is not None:
        _take_over(previous, treatment)
    db.session.flush()
    if previous is not None:
        for sub in db.session.scalars(select(PushSubscription)
                                      .where(PushSubscription.treatment_id == previous.id)):
            sub.treatment_id = treatment.id
        db.session.flush()
        from . import reminders  # reminders plan from this module's plans: import at use
        reminders.replan(treatment, datetime.now(timezone.utc), commit=False)
    db.session.commit()
    return treatment


def _take_over(previous, treatment):
    """Move the client's link, code and preferences from `previous` to `treatment`."""
    link = previous.token, previous.short_code
    previous.token, previous.short_code = new_token(), new_short_code()
    db.session.flush()  # the link is free once the earlier row has a retired one
    treatment.token, treatment.short_code = link
    treatment.previous_id = previous.id
    for field in ("reminders_on", "morning_at", "evening_at", "quiet_start", "quiet_end",
                  "first_opened_at", "installed_at", "last_seen_at"):
        setattr(treatment, field, getattr(previous, field))
    db.session.execute(delete(Reminder).where(Reminder.treatment_id == previous.id,
                                              Reminder.state == "pending"))


def history(treatment):
    """The earlier sessions of this client's series, oldest first."""
    earlier = []
    while treatment.previous_id is not None:
        treatment = db.session.get(Treatment, treatment.previous_id)
        earlier.append(treatment)
    return earlier[::-1]


def by_token(token, revoked_ok=False):
    """The live session behind a client token; LinkNotFound / LinkRevoked otherwise
    (`revoked_ok`: a withdrawn link's session too)."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise LinkNotFound()
    treatment = db.session.scalar(select(Treatment).where(Treatment.token == token))
    # The index finds the row; compare_digest keeps the final check constant-time.
    if treatment is None or not secrets.compare_digest(treatment.token, token):
        raise LinkNotFound()
    if treatment.revoked_at is not None and not revoked_ok:
        raise LinkRevoked()
    return treatment


def by_short_code(text):
    code = normalise_short_code(text)
    if code is None:
        raise LinkNotFound()
    treatment = db.session.scalar(select(Treatment).where(Treatment.short_code == code))
    if treatment is None:
        raise LinkNotFound()
    if treatment.revoked_at is not None:
        raise LinkRevoked()
    return treatment


def protocol_for(treatment):
    """The protocol this client follows: shipped, then the clinic's defaults, then the session's;
    in the current language."""
    layers = (treatment.clinic.protocol_overrides, registration.merge_form(treatment.overrides))
    return i18n.localise(_layered(treatment.protocol_id,
                                  tuple(json.dumps(layer, sort_keys=True) for layer in layers if layer)))


@lru_cache(maxsize=512)
def _layered(protocol_id, layers):
    """Built once per distinct protocol and overrides: a dashboard builds many plans."""
    if not layers:
        return protocols.load(protocol_id)
    merged = protocols.raw(protocol_id)
    for layer in layers:
        merged = protocols.merge(merged, json.loads(layer))
    return protocols.parse(merged, f"{protocol_id} with clinic or session changes")


def plan_for(treatment, now):
    return careplan.build_plan(
        protocol_for(treatment),
        treatment.treated_at,
        treatment.timezone,
        now,
        series_index=treatment.series_index,
        series_total=treatment.series_total,
        next_session_weeks=treatment.next_session_weeks,
    )


def open_plan(token, now=None, installed=False):
    """A client opens their plan: find it, note that it was seen, build it. Commits."""
    now = now or datetime.now(timezone.utc)
    treatment = by_token(token)
    if installed and treatment.installed_at is None:
        treatment.installed_at = now
    if treatment.first_opened_at is None:
        treatment.first_opened_at = now
    if treatment.last_seen_at is None or now - treatment.last_seen_at >= SEEN_RESOLUTION:
        treatment.last_seen_at = now
    if db.session.dirty:
        db.session.commit()
    return treatment, plan_for(treatment, now)


def path(treatment):
    """The client's link, relative to the site."""
    return f"/s/{treatment.token}"


def get_for_clinic(clinic_id, treatment_id):
    """A session of this clinic; another clinic's is as absent as a missing one.

    SessionDeleted (a LinkNotFound) when this clinic's session was deleted."""
    valid = isinstance(treatment_id, int) and 0 < treatment_id < 2**63
    treatment = db.session.get(Treatment, treatment_id) if valid else None
    if treatment is None and valid:
        tombstone = db.session.get(DeletedSession, treatment_id)
        if tombstone is not None and tombstone.clinic_id == clinic_id:
            raise SessionDeleted(tombstone)
    if treatment is None or treatment.clinic_id != clinic_id:
        raise LinkNotFound()
    return treatment


def page_for_clinic(clinic_id, page=1, per_page=20):
    """Newest first: (items, total)."""
    query = select(Treatment).where(Treatment.clinic_id == clinic_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(Treatment.id.desc()).limit(per_page).offset((page - 1) * per_page))
    return list(items), total


def recent_for_clinic(clinic_id, since):
    return list(db.session.scalars(
        select(Treatment)
        .where(Treatment.clinic_id == clinic_id, Treatment.treated_at >= since)
        .order_by(Treatment.treated_at.desc())))


def revoke(clinic_id, treatment_id, now=None):
    """Withdraw a client's link; the client then sees that it was withdrawn. Commits."""
    treatment = get_for_clinic(clinic_id, treatment_id)
    if treatment.revoked_at is None:
        treatment.revoked_at = now or datetime.now(timezone.utc)
        # Nothing more goes to a withdrawn link's phones.
        db.session.execute(delete(Reminder).where(Reminder.treatment_id == treatment.id,
                                                  Reminder.state == "pending"))
        db.session.commit()
    return treatment


def first_rules(treatment, count=3):
    """The restrictions that end first: the rules that matter most in the first 48 hours."""
    care_plan = plan_for(treatment, treatment.treated_at)
    return sorted(care_plan.off_limits, key=lambda status: status.ends_at)[:count]
