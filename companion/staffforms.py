"""The staff portal's forms <-> the services' JSON-shaped dicts, with staff-facing messages."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _, pgettext

from . import clinics, i18n, protocols, registration

STEP_FIELDS = ("title", "text", "from_day", "to_day", "time")


def N_(text):
    """Marks a message for extraction; labels() translates it for the page."""
    return text


#: each field's name as staff read it, in English; labels() has them in the page's language
LABELS = {
    "client_name": N_("Client's first name or nickname"),
    "treated_at": N_("Treatment date and time"), "timezone": N_("Time zone"),
    "protocol": N_("Protocol"), "series_index": N_("Session number"),
    "series_total": N_("Sessions in the series"),
    "next_session_weeks": N_("Weeks until the next session"), "areas": N_("Treated areas"),
    "needle_depth_mm": N_("Needle depth"), "note": N_("Note"),
    "overrides": N_("This session's protocol"), "body": N_("The form"),
    "name": N_("Clinic name"), "phone": N_("Phone"), "booking_url": N_("Booking link"),
    "emergency_text": N_("Emergency text"), "interval_weeks": N_("Weeks between sessions"),
    "steps": N_("Extra steps"), "protocol_overrides": N_("Protocol defaults"),
    "language": N_("Default language for clients"),
}


def labels():
    return {name: _(label) for name, label in LABELS.items()}


def area_choices():
    """The areas to tick, (stored value, label); others are typed in."""
    return [("face", _("Face")), ("neck", _("Neck")), ("decolletage", _("Décolletage")),
            ("scalp", _("Scalp")), ("hands", _("Hands")), ("body", _("Body"))]


def protocol_choices():
    """(id, name in the page's language) for each shipped protocol."""
    return [(pid, i18n.gettext_raw(protocols.raw(pid)["name"])) for pid in protocols.available()]


def step_time_choices():
    """(value, label) for each of clinics.STEP_TIMES."""
    words = {"morning": _("Morning"), "anytime": _("Anytime"), "evening": _("Evening")}
    return [(when, words[when]) for when in clinics.STEP_TIMES]


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
        rows.append({"id": r["id"], "title": i18n.gettext_raw(r["title"]),
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
            errors["treated_at"] = _("Treatment date and time must be a date and a time.")
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
            errors[f"step-{n}-to_day"] = _("The last day cannot be before the first day.")
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
    names = labels()
    titles = {f"r-{r['id']}": i18n.gettext_raw(r["title"]) for r in restrictions}
    out = {}
    for key, message in fields.items():
        name = _form_field(key, sent_rows)
        if isinstance(message, registration.Sentence):
            out.setdefault(name, message[:1].upper() + message[1:])
            continue
        if "{" in message:  # a hint for API users, with a JSON example
            message = (_("must be a whole number of hours or days.") if name.startswith("r-")
                       else _("is not valid."))
        message = message.replace("series_total", _("the number of sessions"))  # the API's name
        label = names.get(name) or titles.get(name) or _dynamic_label(name)
        # Translators: a field's name and what is wrong with it ("Phone" "must be a phone number.")
        out.setdefault(name, _("%(label)s %(problem)s", label=label, problem=message))
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
        field = {"title": pgettext("step field", "title"),
                 "text": pgettext("step field", "what to do"),
                 "from_day": pgettext("step field", "from day"),
                 "to_day": pgettext("step field", "to day"),
                 "time": pgettext("step field", "when")}.get(m[2], m[2])
        return _("Step %(number)s: %(field)s", number=m[1], field=field)
    if name.startswith("r-"):
        return _("This duration")
    return _("This field")
