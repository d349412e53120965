"""Which reminders a client gets, and when: a pure function of their plan and preferences.

Stdlib only and time-free like careplan: the plan and the client's local preferences go in,
reminders with UTC due times come out. Local wall times become instants with zoneinfo, so a
08:00 reminder stays at 08:00 across DST changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from gettext import NullTranslations
from zoneinfo import ZoneInfo

from .careplan import Plan, wall_to_instant


@dataclass(frozen=True)
class Preferences:
    morning: time = time(8, 0)
    evening: time = time(20, 0)
    #: no reminder is due in [quiet_start, quiet_end); None for no quiet hours
    quiet_start: time | None = time(21, 30)
    quiet_end: time | None = time(7, 30)


@dataclass(frozen=True)
class PlannedReminder:
    key: str          #: stable per session: re-planning keeps what was sent
    kind: str         #: evening | morning | unlock | checkin | next-session | precare
    day: int          #: the recovery day the reminder opens on
    due_at: datetime  #: UTC
    stale_at: datetime  #: UTC; not sent after this: a late reminder is a wrong reminder
    title: str
    body: str


#: how long each kind stays worth sending after its due time
FRESH_FOR = {
    "evening": timedelta(hours=3),
    "morning": timedelta(hours=4),
    "unlock": timedelta(hours=12),
    "checkin": timedelta(hours=3),
    "next-session": timedelta(hours=12),
    "precare": timedelta(hours=12),
}


def instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (in a DST gap, just after it: careplan's rule)."""
    return wall_to_instant(datetime.combine(day, wall), zone)


def in_quiet_hours(moment: datetime, prefs: Preferences, zone: ZoneInfo) -> bool:
    if prefs.quiet_start is None or prefs.quiet_end is None or prefs.quiet_start == prefs.quiet_end:
        return False
    wall = moment.astimezone(zone).time()
    start, end = prefs.quiet_start, prefs.quiet_end
    return start <= wall < end if start < end else (wall >= start or wall < end)


def after_quiet_hours(moment: datetime, prefs: Preferences, zone: ZoneInfo) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(moment, prefs, zone):
        return moment
    local = moment.astimezone(zone)
    day = local.date() if local.time() < prefs.quiet_end else local.date() + timedelta(days=1)
    return instant(day, prefs.quiet_end, zone)


def plan_reminders(plan: Plan, prefs: Preferences, expected_recovery_days: int,
                   t: NullTranslations = NullTranslations()) -> list[PlannedReminder]:
    """Every reminder of one session, in due order (past ones included: the caller filters).

    Titles and bodies read in the language of `t` (the plan's protocol words already do).
    """
    zone = ZoneInfo(plan.timezone)
    treated_at = plan.treated_local.astimezone(UTC)
    treated_on = plan.treated_local.date()
    out: list[PlannedReminder] = []

    def add(key, kind, day, due, title, body, quiet_moves=True):
        if quiet_moves:
            due = after_quiet_hours(due, prefs, zone)
        elif in_quiet_hours(due, prefs, zone):
            return
        out.append(PlannedReminder(key, kind, day, due, due + FRESH_FOR[kind], title, body))

    # Day 0 evening: the first cleanse and no make-up tonight; never sooner than 1 h after.
    evening0 = max(instant(treated_on, prefs.evening, zone), treated_at + timedelta(hours=1))
    if evening0.astimezone(zone).date() == treated_on:
        add("evening-0", "evening", 0, evening0, t.gettext("Tonight's aftercare"),
            t.gettext("Cleanse gently with lukewarm water, moisturise, and no make-up tonight."),
            quiet_moves=False)

    # Mornings: each day with morning steps (sunscreen for its two weeks); a step that is
    # not yet due that morning ("from 24 h") is left out rather than announced too early.
    for day in plan.timeline[1:]:
        steps = [v.step.title for v in day.steps if v.step.time == "morning" and v.not_before is None]
        if steps:
            add(f"morning-{day.number}", "morning", day.number,
                instant(day.date, prefs.morning, zone),
                t.gettext("Day %(day)s: this morning's care") % {"day": day.number},
                ", ".join(steps) + ".")

    # Each "allowed again" moment, moved out of the night; things ending together, together.
    ending = {}
    for status in plan.restrictions:
        if status.restriction.remind:
            ending.setdefault(status.ends_at, []).append(status)
    for ends_at, group in sorted(ending.items()):
        titles = [s.restriction.title for s in group]
        if len(group) == 1:
            title = t.gettext("%(what)s: allowed again") % {"what": titles[0]}
            body = group[0].restriction.allowed
        else:
            title, body = t.gettext("Allowed again from now"), "; ".join(titles) + "."
        add("unlock-" + "+".join(s.restriction.id for s in group), "unlock",
            group[0].ends_day, ends_at, title, body)

    # A check-in while recovery is expected (days 1 .. expected_recovery_days).
    for number in range(1, expected_recovery_days + 1):
        add(f"checkin-{number}", "checkin", number,
            instant(treated_on + timedelta(days=number), prefs.evening, zone),
            t.gettext("How is your skin today?"),
            t.gettext("Compare it with what is normal today, and see when to call your clinic."))

    # The next session a week and a day before, and its pre-care: one reminder a morning.
    ns = plan.next_session
    if ns is not None:
        mornings: dict[date, dict] = {}
        for before, title in ((7, t.gettext("Your next session is in a week")),
                              (1, t.gettext("Your next session is from tomorrow"))):
            on = ns.earliest - timedelta(days=before)
            mornings.setdefault(on, {"title": title, "texts": [], "kind": "next-session"})
        for item, starts in ns.precare:
            entry = mornings.setdefault(
                starts, {"title": t.gettext("Before your next session"), "texts": [],
                         "kind": "precare"})
            entry["texts"].append(item.text)
        for on, entry in sorted(mornings.items()):
            if on <= treated_on:
                continue
            body = " ".join(entry["texts"]) or t.gettext("Book it with your clinic if you have not yet.")
            add(f"series-{(ns.earliest - on).days}", entry["kind"], (on - treated_on).days,
                instant(on, prefs.morning, zone), entry["title"], shorten(body))

    return sorted(out, key=lambda r: (r.due_at, r.key))


def shorten(text: str, limit: int = 240) -> str:
    """Notifications show a few lines; the app has the rest."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
