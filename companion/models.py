"""Tables. No I/O and no current_app here: services read and write these rows."""
from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, Integer, JSON, String, Text, TypeDecorator
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
    #: the clinic's note to the client, shown on the plan
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when the clinic withdraws the link; the client then sees a clear message
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    clinic: Mapped[Clinic] = relationship(back_populates="treatments")
