"""Tables. No I/O and no current_app here: services read and write these rows."""
from datetime import datetime, timezone

from sqlalchemy import (Boolean, DateTime, Float, ForeignKey, Index, Integer, JSON, String, Text,
                        TypeDecorator, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow():
    return datetime.now(timezone.utc)


class Clinic(db.Model):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    #: shown to clients as a call button; free text such as "+44 20 7946 0000"
    phone: Mapped[str | None] = mapped_column(String(40))
    #: where clients book their next session (https URL), optional
    booking_url: Mapped[str | None] = mapped_column(String(500))
    #: the clinic's own words for emergencies, shown next to the warning signs
    emergency_text: Mapped[str | None] = mapped_column(String(500))
    #: IANA zone; the default for its clients' sessions
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: the clinic's own protocol defaults, in protocols.merge() form, over the shipped ones
    protocol_overrides: Mapped[dict | None] = mapped_column(JSON)
    #: language for clients whose browser asks for none we have ("en" or "es")
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    treatments: Mapped[list["Treatment"]] = relationship(back_populates="clinic")


class Treatment(db.Model):
    """One treatment session of one client, reached by the client through its token."""

    __tablename__ = "treatments"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    #: the bearer secret in the client's link /s/<token> (>= 128 bits from `secrets`).
    #: Kept so the clinic can show the QR code and card again.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    #: the same session for typing at "/": 8 Crockford base32 characters, stored undashed
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    #: a first name or nickname: nothing more is ever asked
    client_name: Mapped[str] = mapped_column(String(60))
    protocol_id: Mapped[str] = mapped_column(String(40), default="microneedling")
    #: the moment of treatment (UTC)
    treated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the client's IANA zone: recovery days turn at midnight there
    timezone: Mapped[str] = mapped_column(String(64))
    series_index: Mapped[int] = mapped_column(Integer, default=1)
    series_total: Mapped[int | None] = mapped_column(Integer)
    #: weeks until the next session; None takes the protocol's interval
    next_session_weeks: Mapped[int | None] = mapped_column(Integer)
    #: per-session protocol overrides, merged over the clinic's (protocols.merge)
    overrides: Mapped[dict | None] = mapped_column(JSON)
    #: treated areas as the clinic names them, e.g. ["face", "neck"]
    areas: Mapped[list | None] = mapped_column(JSON)
    needle_depth_mm: Mapped[float | None] = mapped_column(Float)
    #: the clinic's note to the client, shown on the plan
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when the clinic withdraws the link; the client then sees a clear message
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the session this one continues: it took over that session's link (history is kept)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("treatments.id"))
    #: first time the plan was opened as an installed (home-screen) app
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the client's reminder preferences, local "HH:MM" times in `timezone`
    reminders_on: Mapped[bool] = mapped_column(Boolean, default=True)
    morning_at: Mapped[str] = mapped_column(String(5), default="08:00")
    evening_at: Mapped[str] = mapped_column(String(5), default="20:00")
    quiet_start: Mapped[str | None] = mapped_column(String(5), default="21:30")
    quiet_end: Mapped[str | None] = mapped_column(String(5), default="07:30")
    #: the client's language, for what is rendered without a request (pushes, check-in
    #: replies); set when the plan is first opened or the client switches; None: the clinic's
    language: Mapped[str | None] = mapped_column(String(8))

    clinic: Mapped[Clinic] = relationship(back_populates="treatments")


class DeletedSession(db.Model):
    """What is left of a deleted session: that it existed, whose it was, who deleted it, when.

    Nothing about the client: the session row and every row that referred to it are gone
    (erasure.py). It keeps the session's id, so a clinic asking about that id learns that the
    session was deleted rather than that it never existed, and no new session is given it.
    """

    __tablename__ = "deleted_sessions"

    #: the deleted session's id (treatments.id), never given to another session
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    #: when the clinic registered the session: the clinic's own act, to match its records
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: "client" (forget me), "clinic" (portal or API) or "retention" (the purge job)
    deleted_by: Mapped[str] = mapped_column(String(16))


class StaffUser(db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    #: stored lower-case; the sign-in name
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: argon2id hash (argon2-cffi); never the password
    password_hash: Mapped[str] = mapped_column(String(255))
    #: bumped when the password changes: signs out every browser signed in before
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    clinic: Mapped[Clinic] = relationship()


class ApiToken(db.Model):
    """A booking system's key to one clinic's API. Only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    #: sha256 of the token, hex; the token itself is shown once, at creation
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the token's first characters, to tell tokens apart in lists
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    clinic: Mapped[Clinic] = relationship()


class LoginThrottle(db.Model):
    """Failed sign-ins per account and per address, shared by every web worker."""

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "account" or "address"
    kind: Mapped[str] = mapped_column(String(16))
    #: sha256 of the e-mail or IP address: who tried is not kept in the clear
    key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: no attempt is checked before this moment
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PushSubscription(db.Model):
    """A browser's push endpoint for one client session (PushSubscription.toJSON())."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    #: https URL on an allowed push service; one subscription belongs to one session
    endpoint: Mapped[str] = mapped_column(String(1024), unique=True)
    #: base64url keys of the browser: P-256 public key (65 bytes) and auth secret (16 bytes)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a short reason such as "HTTP 503" (never the endpoint itself)
    last_failure: Mapped[str | None] = mapped_column(String(200))
    #: the push service asked us to wait (429 Retry-After) until then
    retry_after: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Reminder(db.Model):
    """One push reminder of one session, due at a UTC instant; sent by the dispatcher."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("treatment_id", "key"),
        # What the dispatcher scans: only rows not yet done, by due time.
        Index("ix_reminders_unsent_due", "due_at",
              sqlite_where=text("state IN ('pending', 'leased')"),
              postgresql_where=text("state IN ('pending', 'leased')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    #: stable per session (reminderplan.PlannedReminder.key); also the notification tag
    key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    #: recovery day the notification opens on
    day: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: not sent after this: a reminder that went stale while the server was down is skipped
    stale_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(300))
    #: pending -> leased -> sent | skipped | failed
    state: Mapped[str] = mapped_column(String(10), default="pending")
    #: a leased row belongs to lease_owner until lease_until; then anyone may take it
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))


class CheckIn(db.Model):
    """A client's daily check-in: the answers, what the rules made of them, the clinic's follow-up."""

    __tablename__ = "check_ins"
    __table_args__ = (
        # An offline check-in sent twice is stored once.
        UniqueConstraint("treatment_id", "client_id"),
        # What the clinic works through: flagged rows not yet handled, newest first.
        Index("ix_check_ins_open_flagged", "answered_at",
              sqlite_where=text("handled_at IS NULL AND outcome IN ('contact_clinic', 'emergency')"),
              postgresql_where=text("handled_at IS NULL AND outcome IN ('contact_clinic', 'emergency')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatments.id"), index=True)
    #: the phone's idempotency key (a UUID), unique within the session
    client_id: Mapped[str | None] = mapped_column(String(36))
    #: when the client answered (the phone may send it later); the recovery day comes from it
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: recovery day of answered_at in the session's time zone
    day: Mapped[int] = mapped_column(Integer)
    #: the day fell within the protocol's expected recovery (0..expected_recovery_days)
    in_recovery: Mapped[bool] = mapped_column(Boolean)
    #: "none" | "mild" | "moderate" | "strong" (checkrules.LEVELS)
    redness: Mapped[str] = mapped_column(String(10))
    swelling: Mapped[str] = mapped_column(String(10))
    pain: Mapped[str] = mapped_column(String(10))
    itch: Mapped[str] = mapped_column(String(10))
    #: warning signs answered "yes" (checkrules.SIGNS), in that order
    signs: Mapped[list] = mapped_column(JSON, default=list)
    #: the client's own words, for the clinic only: never logged, never pushed
    note: Mapped[str | None] = mapped_column(Text)
    #: "expected" | "watch" | "contact_clinic" | "emergency"
    outcome: Mapped[str] = mapped_column(String(16))
    #: checkrules.Reason as dicts: kind, subject, outcome, text
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    #: exactly what the client was told
    message: Mapped[str] = mapped_column(Text)
    #: the protocol version whose rules judged it
    protocol_version: Mapped[int] = mapped_column(Integer)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: who marked it handled: a staff e-mail, or "API" for a clinic token
    handled_by: Mapped[str | None] = mapped_column(String(254))

    treatment: Mapped[Treatment] = relationship()


class SchedulerHeartbeat(db.Model):
    """A dispatcher process says it is alive; /healthz reads the newest of these."""

    __tablename__ = "scheduler_heartbeats"

    #: random per process (scheduler.py); no host names or personal data
    dispatcher_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
