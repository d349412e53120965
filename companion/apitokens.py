"""Service: a clinic's API tokens for booking systems. Only hashes are stored."""
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from .extensions import db
from .models import ApiToken, Clinic

PREFIX = "cmp_"
#: how often a request may write last_used_at
USE_RESOLUTION = timedelta(minutes=5)


class TokenError(ValueError):
    pass


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue(clinic_id, name=None):
    """A new token; returns (row, token). The token is never shown again. Commits."""
    if db.session.get(Clinic, clinic_id) is None:
        raise TokenError(f"there is no clinic with id {clinic_id}.")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(clinic_id=clinic_id, token_hash=_hash(token), prefix=token[:10], name=name)
    db.session.add(row)
    db.session.commit()
    return row, token


def clinic_for(token, now=None):
    """The clinic a live token belongs to, or None."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 100:
        return None
    # Looked up by its hash: the comparison never sees the secret itself.
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = now or datetime.now(timezone.utc)
    if row.last_used_at is None or now - row.last_used_at >= USE_RESOLUTION:
        row.last_used_at = now
        db.session.commit()
    return row.clinic


def for_clinic(clinic_id):
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.clinic_id == clinic_id).order_by(ApiToken.id)))


def revoke(clinic_id, token_id, now=None):
    """Withdraw a token of this clinic. Commits."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.clinic_id != clinic_id:
        raise TokenError(f"clinic {clinic_id} has no token {token_id}.")
    row.revoked_at = row.revoked_at or now or datetime.now(timezone.utc)
    db.session.commit()
    return row
