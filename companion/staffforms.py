"""The staff portal's forms <-> the services' JSON-shaped dicts, with staff-facing messages."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from . import clinics, protocols, registration

STEP_FIELDS = ("title", "text", "from_day", "to_day", "time")


LABELS = {
    "client_name": "Client's first name or nickname", "treated_at": "Treatment date and time",
    "timezone": "Time zone", "protocol": "Protocol", "series_index": "Session number",
    "series_total": "Sessions in the series", "next_session_weeks": "Weeks until the next session",
    "areas": "Treated areas", "needle_depth_mm": "Needle depth", "note": "Note",
    "overrides": "This session's protocol", "body": "The form", "name": "Clinic name",
    "phone": "Phone", "booking_url": "Booking link", "emergency_text": "Emergency text",
    "interval_weeks": "Weeks between sessions", "steps": "Extra steps",
    "protocol_overrides": "Protocol defaults", "language": "Default language for clients",
}


def form_values(form, lists=()):
    values = {k: v.strip() for k, v in form.items()}
    values.pop("csrf_token", None)
    for name in lists:
        values[name] = form.getlist(name)
    return values


def effective_protocol(clinic, protocol_id):
    """The protocol as this clinic runs it: shipped, then the clinic's defaults."""
    if protocol_id not in protocols.available():
        protocol_id = "microneedling"
    data = protocols.raw(protocol_id)
    return protocols.merge(data, clinic.protocol_overrides) if clinic.protocol_overrides else data


def _duration(restriction):
    unit = "hours" if restriction.get("hours") is not None else "days"
    return unit, restriction[unit]


def restriction_rows(restrictions, form):
    rows = []
    for r in restrictions:
        unit, amount = _duration(r)
        rows.append({"id": r["id"], "title": r["title"], "default": f"{amount} {unit}",
                     "amount": form.get(f"r-{r['id']}-amount", str(amount)),
                     "unit": form.get(f"r-{r['id']}-unit", unit)})
    return rows


def restriction_defaults(restrictions):
    form = {}
    for r in restrictions:
        form[f"r-{r['id']}-unit"], amount = _duration(r)
        form[f"r-{r['id']}-amount"] = str(amount)
    return form


def changed_durations(form, restrictions):
    """{"heat": {"days": "5"}} for each restriction the form sets differently from `restrictions`."""
    changed = {}
    for r in restrictions:
        unit, amount = _duration(r)
        new_amount = form.get(f"r-{r['id']}-amount", "")
        new_unit = form.get(f"r-{r['id']}-unit", unit)
        if new_amount and (new_amount, new_unit) != (str(amount), unit):
            changed[r["id"]] = {new_unit: new_amount}
    return changed


def session_form_defaults(clinic, now, previous=None):
    form = {"treated_at": f"{now.astimezone(ZoneInfo(clinic.timezone)):%Y-%m-%dT%H:%M}",
            "timezone": clinic.timezone, "protocol": "microneedling", "areas": [], "series_index": "1"}
    if previous is not None:  # the same client's next session of the series
        form.update({
            "previous_session_id": str(previous.id), "client_name": previous.client_name,
            "timezone": previous.timezone, "protocol": previous.protocol_id,
            "series_index": str(previous.series_index + 1),
            "series_total": str(previous.series_total or ""),
            "next_session_weeks": str(previous.next_session_weeks or ""),
            "areas": list(previous.areas or [])})
    form.update(restriction_defaults(effective_protocol(clinic, "microneedling")["restrictions"]))
    return form


def session_data(form, clinic):
    """The form as registration.parse_session() takes it, and the errors only the form can make."""
    errors = {}
    zone_name = form.get("timezone") or clinic.timezone
    zone = ZoneInfo(zone_name if zone_name in registration.time_zones() else clinic.timezone)
    treated_at = form.get("treated_at", "")
    if treated_at:
        try:
            # datetime-local sends a wall time; the client's zone gives it its offset.
            treated_at = datetime.fromisoformat(treated_at).replace(tzinfo=zone).isoformat()
        except ValueError:
            errors["treated_at"] = f"{LABELS['treated_at']} must be a date and a time."
    areas = [a for a in form.get("areas", []) if a] + [
        a.strip() for a in form.get("areas_other", "").split(",") if a.strip()]
    protocol_id = form.get("protocol") or "microneedling"
    restrictions = effective_protocol(clinic, protocol_id)["restrictions"]
    changed = changed_durations(form, restrictions)
    data = {
        "client_name": form.get("client_name", ""), "treated_at": treated_at,
        "timezone": zone_name, "protocol": protocol_id,
        "series_index": form.get("series_index", ""), "series_total": form.get("series_total", ""),
        "next_session_weeks": form.get("next_session_weeks", ""), "areas": areas,
        "needle_depth_mm": form.get("needle_depth_mm", ""), "note": form.get("note", ""),
        "overrides": {"restrictions": changed} if changed else None,
        "previous_session_id": form.get("previous_session_id") or None,
    }
    return data, errors


def settings_defaults(clinic):
    form = {name: getattr(clinic, name) or "" for name in
            ("name", "phone", "booking_url", "emergency_text", "timezone", "language")}
    merged = effective_protocol(clinic, "microneedling")
    form.update(restriction_defaults(merged["restrictions"]))
    form["interval_weeks"] = str(merged["series"]["interval_weeks"])
    extra = (clinic.protocol_overrides or {}).get("steps", [])
    for n, step in enumerate(extra, 1):
        form.update({f"step-{n}-{f}": str(step[f]) for f in STEP_FIELDS})
    return form


def settings_data(form):
    """The form as clinics.update() takes it; which form row each sent step came from."""
    shipped = protocols.raw("microneedling")
    weeks = form.get("interval_weeks", "")
    if weeks == str(shipped["series"]["interval_weeks"]):
        weeks = None  # the shipped interval: nothing to override
    steps, rows, errors = [], [], {}
    for n in range(1, clinics.EXTRA_STEPS_MAX + 1):
        step = {f: form.get(f"step-{n}-{f}", "") for f in STEP_FIELDS}
        if not (step["title"] or step["text"]):
            continue  # an empty row
        steps.append(step)
        rows.append(n)
        if step["from_day"].isdigit() and step["to_day"].isdigit() \
                and int(step["from_day"]) > int(step["to_day"]):
            errors[f"step-{n}-to_day"] = "The last day cannot be before the first day."
    data = {name: form.get(name, "") for name in
            ("name", "phone", "booking_url", "emergency_text", "timezone", "language")}
    # Clients see the text as one paragraph.
    data["emergency_text"] = " ".join(data["emergency_text"].split())
    data["protocol_overrides"] = {
        "restrictions": changed_durations(form, shipped["restrictions"]),
        "interval_weeks": weeks, "steps": steps}
    return data, rows, errors


def field_errors(fields, restrictions=(), sent_rows=()):
    """The services' field -> message, as form field -> a sentence staff read."""
    titles = {f"r-{r['id']}": r["title"] for r in restrictions}
    out = {}
    for key, message in fields.items():
        name = _form_field(key, sent_rows)
        label = LABELS.get(name) or titles.get(name) or _dynamic_label(name)
        if "{" in message:  # a hint written for API users
            message = "must be a whole number of hours or days." if name.startswith("r-") else "is not valid."
        message = message.replace("series_total", "the number of sessions")  # the API's name
        if unit := re.search(r"\.(hours|days)$", key):
            message = re.sub(r"(between \d+ and \d+)\.$", rf"\1 {unit[1]}.", message)
        if re.match(r"(is|must|needs|contains|cannot|may) ", message):
            message = f"{label} {message}"
        else:
            message = message[:1].upper() + message[1:]
        out.setdefault(name, message)
    return out


def _form_field(key, sent_rows):
    if m := re.match(r"(?:protocol_)?overrides\.restrictions\.([^.]+)", key):
        return f"r-{m[1]}"
    if m := re.match(r"protocol_overrides\.steps\[(\d+)\](?:\.(\w+))?$", key):
        row = sent_rows[int(m[1]) - 1] if int(m[1]) <= len(sent_rows) else int(m[1])
        return f"step-{row}-{m[2] or 'title'}"
    return {"protocol_overrides.interval_weeks": "interval_weeks",
            "protocol_overrides.steps": "steps", "overrides.restrictions": "overrides"}.get(key, key)


def _dynamic_label(name):
    if m := re.match(r"step-(\d+)-(\w+)", name):
        field = {"title": "title", "text": "what to do", "from_day": "from day",
                 "to_day": "to day", "time": "when"}.get(m[2], m[2])
        return f"Step {m[1]}: {field}"
    if name.startswith("r-"):
        return "This duration"
    return "This field"
