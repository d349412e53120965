"""Service: staff accounts, passwords (argon2id) and sign-in throttling."""
import hashlib
import re
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from .extensions import db
from .models import Clinic, LoginThrottle, StaffUser

hasher = PasswordHasher()  # argon2id, 64 MiB, t=3: memory-hard
#: verified against when the e-mail is unknown, so the answer takes as long either way
_DUMMY_HASH = hasher.hash("not a password of anyone")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")
PASSWORD_MIN = 10
PASSWORD_MAX = 256

#: failures allowed before a lock, and the first lock; each further failure doubles it
FREE_FAILURES = {"account": 5, "address": 20}
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
#: failures older than this are forgotten
FAILURE_MEMORY = timedelta(hours=1)


class StaffError(ValueError):
    pass


class LoginFailed(Exception):
    """Wrong e-mail or password; which one is never said."""


class LoginThrottled(Exception):
    def __init__(self, retry_after):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def normalise_email(email):
    return (email or "").strip().lower()


def create(clinic_id, email, password):
    """A new staff account of a clinic. Commits."""
    email = normalise_email(email)
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise StaffError(f"'{email}' is not an e-mail address.")
    check_password(password)
    if db.session.get(Clinic, clinic_id) is None:
        raise StaffError(f"there is no clinic with id {clinic_id}.")
    if db.session.scalar(select(StaffUser).where(StaffUser.email == email)):
        raise StaffError(f"{email} already has an account.")
    user = StaffUser(clinic_id=clinic_id, email=email, password_hash=hasher.hash(password))
    db.session.add(user)
    db.session.commit()
    return user


def set_password(user, password):
    """New password; every browser signed in with the old one is signed out. Commits."""
    check_password(password)
    user.password_hash = hasher.hash(password)
    user.session_version += 1
    db.session.commit()


def check_password(password):
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise StaffError(f"a password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters.")


def by_email(email):
    return db.session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


def signed_in(staff_id, version):
    """The staff member a browser session names, if still valid."""
    user = db.session.get(StaffUser, staff_id) if isinstance(staff_id, int) else None
    if user is None or user.disabled_at is not None or user.session_version != version:
        return None
    return user


def _key(value):
    return hashlib.sha256(value.encode()).hexdigest()


def _throttles(email, address):
    keys = {"account": _key(normalise_email(email)), "address": _key(address or "?")}
    rows = {}
    for kind, key in keys.items():
        row = db.session.scalar(
            select(LoginThrottle).where(LoginThrottle.kind == kind, LoginThrottle.key == key))
        rows[kind] = row or LoginThrottle(kind=kind, key=key, failures=0)
    return rows


def authenticate(email, password, address, now=None):
    """The staff member for these credentials. Commits the bookkeeping of failures.

    Raises LoginThrottled while the account or the address is locked (before looking at the
    password), LoginFailed for a wrong e-mail or password.
    """
    now = now or datetime.now(timezone.utc)
    rows = _throttles(email, address)
    locked = [r.locked_until for r in rows.values() if r.locked_until and r.locked_until > now]
    if locked:
        raise LoginThrottled(int((max(locked) - now).total_seconds()) + 1)

    user = by_email(email)
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
        ok = user is not None and user.disabled_at is None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        for row in rows.values():
            _fail(row, now)
        db.session.commit()
        raise LoginFailed()

    account = rows["account"]
    if account.id is not None:
        db.session.delete(account)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = now
    db.session.commit()
    return user


def _fail(row, now):
    if row.id is None:
        db.session.add(row)
    elif row.last_failure_at and now - row.last_failure_at > FAILURE_MEMORY:
        row.failures = 0
    row.failures = (row.failures or 0) + 1
    row.last_failure_at = now
    over = row.failures - FREE_FAILURES[row.kind]
    if over >= 0:
        row.locked_until = now + min(FIRST_LOCK * (2 ** over), MAX_LOCK)


def purge_throttles(now):
    """Forget failures nobody has repeated for a while. Commits."""
    old = select(LoginThrottle).where(LoginThrottle.last_failure_at < now - MAX_LOCK - FAILURE_MEMORY)
    for row in db.session.scalars(old):
        db.session.delete(row)
    db.session.commit()


def count():
    return db.session.scalar(select(func.count(StaffUser.id)))
