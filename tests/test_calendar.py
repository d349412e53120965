"""The client's .ics file, parsed back as a calendar would."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

MADRID = ZoneInfo("Europe/Madrid")


def test_calendar_has_the_next_session_and_allowed_again_moments(client, make_treatment):
    treated = datetime(2026, 10, 23, 18, 0, tzinfo=MADRID)  # DST ends two days later
    _, token, _ = make_treatment(treated_at=treated, timezone_name="Europe/Madrid", series_total=3)
    response = client.get("/api/v1/me/calendar.ics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(response.data)
    events = {str(e["summary"]): e for e in cal.walk("VEVENT")}
    [zone] = cal.walk("VTIMEZONE")
    assert zone["tzid"] == "Europe/Madrid"

    makeup = events["Make-up: allowed again"].decoded("dtstart")
    assert makeup == datetime(2026, 10, 24, 18, 0, tzinfo=MADRID)
    assert str(makeup.tzinfo) == "Europe/Madrid"
    actives = events["Retinoids, acids, vitamin C and benzoyl peroxide: allowed again"]
    # Seven calendar days later at the same wall time, across the change back to winter time.
    assert actives.decoded("dtstart").replace(tzinfo=None) == datetime(2026, 10, 30, 18, 0)
    assert actives.decoded("dtstart").utcoffset() == timedelta(hours=1)
    assert not any("Picking" in name for name in events)

    session = events["Book session 2 of 3 at Calm Skin Clinic"]
    assert session.decoded("dtstart") == date(2026, 11, 20)  # all day, four weeks later
    [alarm] = session.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(days=-7)
    uids = [str(e["uid"]) for e in cal.walk("VEVENT")]
    assert len(set(uids)) == len(uids) and not any(token in u for u in uids)


def test_calendar_is_stable_and_also_downloadable_by_link(client, make_treatment):
    _, token, _ = make_treatment(series_total=2)
    by_link = client.get(f"/s/{token}/calendar.ics")
    assert by_link.status_code == 200
    assert 'filename="aftercare.ics"' in by_link.headers["Content-Disposition"]
    again = client.get(f"/s/{token}/calendar.ics")
    uids = lambda r: sorted(str(e["uid"]) for e in icalendar.Calendar.from_ical(r.data).walk("VEVENT"))
    assert uids(by_link) == uids(again)


def test_last_session_has_no_next_session_event(client, make_treatment):
    _, token, _ = make_treatment(series_index=3, series_total=3)
    cal = icalendar.Calendar.from_ical(client.get(f"/s/{token}/calendar.ics").data)
    assert not [e for e in cal.walk("VEVENT") if "Book session" in str(e["summary"])]


def test_calendar_needs_a_live_token(client):
    assert client.get("/api/v1/me/calendar.ics").status_code == 401
    assert client.get("/s/" + "x" * 32 + "/calendar.ics").status_code == 404
