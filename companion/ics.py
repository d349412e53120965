"""The client's calendar (RFC 5545, icalendar): the next session and the "allowed again" moments."""
import hashlib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//companion//aftercare//EN"


def _uid(treatment, key):
    # Stable across downloads (a calendar updates instead of duplicating), and says nothing
    # about the client: a hash of the session's secret, not its id or name.
    digest = hashlib.sha256(f"{treatment.token}:{key}".encode()).hexdigest()[:24]
    return f"{digest}@companion"


def calendar(treatment, care_plan, clinic_name, now=None):
    """The .ics bytes for one session in the client's time zone."""
    now = now or datetime.now(timezone.utc)
    zone = ZoneInfo(care_plan.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Aftercare · {clinic_name}")

    for status in care_plan.restrictions:
        r = status.restriction
        if not r.remind:
            continue
        event = icalendar.Event()
        event.add("uid", _uid(treatment, f"unlock-{r.id}"))
        event.add("dtstamp", now)
        event.add("summary", f"{r.title}: allowed again")
        event.add("description", r.allowed)
        start = status.ends_at.astimezone(zone)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=15))
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)

    ns = care_plan.next_session
    if ns is not None:
        event = icalendar.Event()
        event.add("uid", _uid(treatment, f"next-session-{ns.index}"))
        event.add("dtstamp", now)
        total = f" of {ns.total}" if ns.total else ""
        event.add("summary", f"Book session {ns.index}{total} at {clinic_name}")
        event.add("description", "Your next microneedling session is due from this day "
                  f"(usually until {ns.latest:%d %B}). Your clinic confirms the date.")
        event.add("dtstart", ns.earliest)  # an all-day event: a date, not a time
        event.add("dtend", ns.earliest + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Your next session is due in a week")
        alarm.add("trigger", timedelta(days=-7))
        event.add_component(alarm)
        cal.add_component(event)

    # Only the years this plan spans: a small file that still describes every DST change in it.
    treated_on = care_plan.treated_local.date()
    cal.add_missing_timezones(first_date=treated_on - timedelta(days=31),
                              last_date=treated_on + timedelta(days=400))
    return cal.to_ical()
