"""PURE: how long a session's data is kept, and which sessions are past it. Time is an argument.

A session is in use through its window: its aftercare plan (up to the last day its timeline
shows anything: recovery, care steps, restrictions ending) and, while its series goes on,
up to the latest date its next session is expected. Its data is then kept `retention_days`
more (COMPANION_RETENTION_DAYS), so that a client who comes back for a top-up session
continues on the same link with their history, and then deleted (erasure.purge_expired).

A series goes as one, when all its sessions may: the client's plan shows the earlier
sessions of the series, and a session continuing another may have the later window or not.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .careplan import wall_to_instant

#: a year after the window: maintenance sessions after a microneedling series are commonly
#: 6 to 12 months apart (docs/data-lifecycle.md); longer records are the clinic's own
DEFAULT_DAYS = 365


@dataclass(frozen=True)
class Window:
    id: int
    previous_id: int | None  #: the session this one continues
    kept_until: datetime  #: aware; its own data may go from this instant


def kept_until(last_day: date, next_session_latest: date | None, zone: str,
               retention_days: int) -> datetime:
    """The instant a session's own data may go: the local midnight that ends its window
    (the later of its plan's last day and its next session's latest date), and then
    `retention_days` calendar days in the client's zone."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be 1 or more, got {retention_days}")
    end = max(d for d in (last_day, next_session_latest) if d is not None)
    wall = datetime.combine(end + timedelta(days=1 + retention_days), time(0))
    return wall_to_instant(wall, ZoneInfo(zone))


def purgeable(windows: list[Window], now: datetime) -> list[int]:
    """Ids of the sessions that may go at `now`: a series goes as one, once every session
    of it is past its own `kept_until`. `windows` must hold every session of each series."""
    series = {w.id: w.id for w in windows}  # union-find: session -> a session of its series

    def first(session_id):
        while series[session_id] != session_id:
            series[session_id] = series[series[session_id]]
            session_id = series[session_id]
        return session_id

    for w in windows:
        if w.previous_id in series:
            series[first(w.id)] = first(w.previous_id)
    until: dict[int, datetime] = {}
    for w in windows:
        key = first(w.id)
        until[key] = max(until.get(key, w.kept_until), w.kept_until)
    return [w.id for w in windows if until[first(w.id)] <= now]
