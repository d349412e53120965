"""Clinic staff portal: sign-in, registering sessions, QR codes and cards, settings, dashboard.

Views parse the form, make one service call and render. The form <-> service conversions
live at the bottom of this module: the services speak JSON-shaped dicts, staff speak forms.
"""
import functools
import math
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (Blueprint, Response, abort, current_app, flash, g, redirect, render_template,
                   request, session, url_for)
from flask_babel import gettext as _, ngettext, pgettext
from markupsafe import Markup

from . import (checkins, checkrules, clinics, erasure, i18n, protocols, qr, registration,
               reminders, staff, treatments)
from .staffforms import (area_choices, effective_protocol, field_errors, form_values, labels,
                         protocol_choices, restriction_rows, session_data, session_form_defaults,
                         settings_data, settings_defaults, step_time_choices)

bp = Blueprint("clinic", __name__, url_prefix="/clinic")

#: the dashboard lists this much; next sessions are looked for further back (up to 26 weeks)
RECENT = timedelta(weeks=6)
DUE_LOOKBACK = timedelta(weeks=registration.WEEKS_MAX + 1)
HEADERS = {
    # Staff pages show client links: keep them out of shared caches and off other sites.
    # Same-origin, not no-referrer: Flask-WTF checks the Referer of forms posted over https.
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}


def utcnow():
    return datetime.now(timezone.utc)


@bp.before_request
def load_staff():
    g.staff = staff.signed_in(session.get("staff_id"), session.get("staff_version"))
    if g.staff:
        i18n.use_language_of(clinic=g.staff.clinic)


@bp.after_request
def private(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.context_processor
def inject_clinic():
    return {"clinic": g.staff.clinic if g.get("staff") else None}


def login_required(view):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.staff is None:
            here = request.full_path if request.query_string else request.path
            return redirect(url_for("clinic.login", next=here))
        return view(**kwargs)
    return wrapped


def safe_next(target):
    """Only back into the portal: never to another site (//evil.example, /\\evil, https:...)."""
    if not target or "\\" in target or any(c in target for c in "\r\n"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not re.match(r"^/clinic(/|$)", parts.path):
        return None
    return target


def own_session(treatment_id):
    """A session of the signed-in clinic; another clinic's is simply not there. A deleted one
    answers with what is left of it: who deleted it and when (410)."""
    try:
        return treatments.get_for_clinic(g.staff.clinic_id, treatment_id)
    except treatments.SessionDeleted as deleted:
        abort(Response(render_template("clinic/deleted.html",
                                       item=deleted_row(deleted.tombstone, clinic_zone())), 410))
    except treatments.LinkNotFound:
        abort(404)


def clinic_zone():
    return ZoneInfo(g.staff.clinic.timezone)


def deleted_row(tombstone, zone):
    """A deleted session as staff see it (clinic/_deleted.html): its number, when it was
    registered, who deleted it and when. There is nothing else left to show."""
    return {"d": tombstone, "created_at": tombstone.created_at.astimezone(zone),
            "deleted_at": tombstone.deleted_at.astimezone(zone)}


def client_link(treatment):
    return current_app.config["PUBLIC_URL"] + treatments.path(treatment)


def qr_title(treatment):
    """What a screen reader says for the QR code (segno escapes it)."""
    return _("QR code of %(name)s's aftercare link", name=treatment.client_name)


# -- Signing in and out --------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """E-mail and password; a working day's sign-in."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.staff is not None:
            return redirect(next_url or url_for("clinic.dashboard"))
        return render_template("clinic/login.html", next=next_url, email="")
    email = request.form.get("email", "")[:254]
    try:
        user = staff.authenticate(email, request.form.get("password", ""), request.remote_addr)
    except staff.LoginThrottled as throttled:
        minutes = math.ceil(throttled.retry_after / 60)
        error = ngettext("Too many attempts. Try again in %(num)d minute.",
                         "Too many attempts. Try again in %(num)d minutes.", minutes)
        body = render_template("clinic/login.html", next=next_url, email=email, error=error)
        return body, 429, {"Retry-After": str(throttled.retry_after)}
    except staff.LoginFailed:
        error = _("E-mail or password is wrong. Please check both and try again.")
        return render_template("clinic/login.html", next=next_url, email=email, error=error), 401
    session.clear()  # a fresh session: nothing planted before sign-in survives it
    session.permanent = True
    session["staff_id"] = user.id
    session["staff_version"] = user.session_version
    return redirect(next_url or url_for("clinic.dashboard"), code=303)


@bp.post("/logout")
def logout():
    """Sign out of this browser."""
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("clinic.login"), code=303)


# -- Dashboard ------------------------------------------------------------------------------


@bp.get("/")
@login_required
def dashboard():
    """Check-ins to follow up, recent sessions with their state, next sessions due this week."""
    clinic, now = g.staff.clinic, utcnow()
    zone = ZoneInfo(clinic.timezone)
    today = now.astimezone(zone).date()
    week_start = today - timedelta(days=today.weekday())
    week_end = week_start + timedelta(days=6)
    rows, due = [], []
    for t in treatments.recent_for_clinic(clinic.id, now - DUE_LOOKBACK):
        plan = treatments.plan_for(t, now)
        if t.treated_at >= now - RECENT:
            rows.append({"t": t, "day": plan.day, **_local_times(t, zone)})
        ns = plan.next_session
        if t.revoked_at is None and ns and ns.earliest <= week_end and ns.latest >= week_start:
            due.append({"t": t, "next": ns})
    due.sort(key=lambda d: d["next"].earliest)
    push_state = reminders.status(row["t"].id for row in rows)
    for row in rows:
        row["reminders"] = {k: (v.astimezone(zone) if hasattr(v, "astimezone") else v)
                            for k, v in push_state[row["t"].id].items()}
    flagged, flagged_total = checkins.page_for_clinic(clinic.id, flagged=True,
                                                      per_page=CHECKINS_PER_PAGE)
    watch, _ = checkins.page_for_clinic(clinic.id, outcome="watch", handled=False,
                                        since=now - WATCH_RECENT, per_page=CHECKINS_PER_PAGE)
    deleted = [deleted_row(d, zone) for d in erasure.deleted_for_clinic(clinic.id, now - RECENT)]
    return render_template("clinic/dashboard.html", rows=rows, due=due,
                           week_start=week_start, week_end=week_end,
                           flagged=checkin_rows(flagged, zone), flagged_total=flagged_total,
                           watch=checkin_rows(watch, zone), deleted=deleted)


def _local_times(t, zone):
    names = ("treated_at", "first_opened_at", "installed_at", "last_seen_at", "revoked_at")
    return {name: getattr(t, name) and getattr(t, name).astimezone(zone) for name in names}


# -- Check-ins -------------------------------------------------------------------------------


#: an unhandled "watch" check-in stays on the dashboard this long
WATCH_RECENT = timedelta(days=3)
CHECKINS_PER_PAGE = 20
CHECKIN_LISTS = {"flagged": {"flagged": True}, "watch": {"outcome": "watch", "handled": False},
                 "all": {}}


def outcome_label(outcome):
    """What the client was told, as a label."""
    return {"emergency": _("Emergency"), "contact_clinic": _("Contact the clinic"),
            "watch": _("Keep an eye on it"), "expected": _("Expected")}[outcome]


def checkin_rows(items, zone):
    return [{
        "c": c, "client_name": c.treatment.client_name, "outcome": outcome_label(c.outcome),
        "answered_at": c.answered_at.astimezone(zone),
        "handled_at": c.handled_at and c.handled_at.astimezone(zone),
        # The words are checkrules' (its _symptom and _level mark them for the catalogue).
        "answers": [(pgettext("symptom", s).capitalize(), getattr(c, s),
                     pgettext("level", getattr(c, s))) for s in checkrules.SYMPTOMS],
        "reasons": [reason_shown(c, r) for r in c.reasons or ()],
        "open": c.outcome != "expected" and c.handled_at is None,
    } for c in items]


def reason_shown(check_in, reason):
    """{"text", "lang"}: a sign in the page's language; other reasons as the client was told
    them (stored in the client's language, which `lang` names when it is not the page's)."""
    if reason["kind"] == "sign" and reason["subject"] in checkrules.SIGN_TEXT:
        return {"text": i18n.gettext_raw(checkrules.SIGN_TEXT[reason["subject"]]), "lang": None}
    written_in = i18n.language_of(check_in.treatment)
    return {"text": reason["text"],
            "lang": written_in if written_in != i18n.current_language() else None}


@bp.get("/check-ins")
@login_required
def check_ins():
    """Every check-in of the clinic's clients, newest first, or only those to follow up."""
    show = request.args.get("show", "all")
    show = show if show in CHECKIN_LISTS else "all"
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() and 1 <= int(raw) <= 10_000 else 1
    items, total = checkins.page_for_clinic(g.staff.clinic_id, **CHECKIN_LISTS[show],
                                            page=page, per_page=CHECKINS_PER_PAGE)
    return render_template(
        "clinic/checkins.html", rows=checkin_rows(items, ZoneInfo(g.staff.clinic.timezone)),
        show=show, total=total, page=page,
        next_page=page + 1 if page * CHECKINS_PER_PAGE < total else None)


@bp.post("/check-ins/<int:check_in_id>/handled")
@login_required
def check_in_handled(check_in_id):
    """Mark a check-in as followed up: it leaves the list of those to follow up."""
    try:
        c = checkins.mark_handled(g.staff.clinic_id, check_in_id, g.staff.email)
    except checkins.NotFound:
        abort(404)
    flash(_("%(name)s's check-in of day %(day)s is marked as handled.",
            name=c.treatment.client_name, day=c.day))
    return redirect(safe_next(request.form.get("next")) or url_for("clinic.dashboard"), code=303)


# -- Registering a session --------------------------------------------------------------------


@bp.route("/sessions/new", methods=["GET", "POST"])
@login_required
def new_session():
    """The short form filled in on the tablet after a treatment."""
    clinic, now = g.staff.clinic, utcnow()
    if request.method == "GET":
        previous = request.args.get("previous", type=int)
        form = session_form_defaults(clinic, now, own_session(previous) if previous else None)
        return render_session_form(clinic, form, {})
    form = form_values(request.form, lists=("areas",))
    data, own_errors = session_data(form, clinic)
    try:
        values = registration.parse_session(data, clinic_timezone=clinic.timezone, now=now)
    except registration.Invalid as invalid:
        restrictions = effective_protocol(clinic, form.get("protocol"))["restrictions"]
        errors = {**field_errors(invalid.fields, restrictions), **own_errors}
        return render_session_form(clinic, form, errors), 422
    try:
        treatment = treatments.create(clinic, **values)
    except (treatments.LinkNotFound, treatments.LinkRevoked):
        errors = {"client_name": _("The earlier session of this client was withdrawn or is not "
                                   "this clinic's: register a new session without it.")}
        form.pop("previous_session_id", None)
        return render_session_form(clinic, form, errors), 422
    return redirect(url_for("clinic.session_page", treatment_id=treatment.id), code=303)


def render_session_form(clinic, form, errors):
    restrictions = effective_protocol(clinic, form.get("protocol"))["restrictions"]
    return render_template(
        "clinic/new_session.html", form=form, errors=errors, areas=area_choices(),
        restrictions=restriction_rows(restrictions, form),
        protocol_choices=protocol_choices(), time_zones=sorted(registration.time_zones()),
        labels=labels(), adjust_open=any(k == "overrides" or k.startswith("r-") for k in errors))


# -- A session: QR code, card, revoking ------------------------------------------------------------


@bp.get("/sessions/<int:treatment_id>")
@login_required
def session_page(treatment_id):
    """What the client takes home: the QR code, the short code and the link."""
    t = own_session(treatment_id)
    url = client_link(t)
    return render_template(  # segno's output: trusted markup
        "clinic/session.html", t=t, url=url, qr_svg=Markup(qr.svg(url, title=qr_title(t))),
        short_code=treatments.format_short_code(t.short_code),
        times=_local_times(t, ZoneInfo(g.staff.clinic.timezone)))


@bp.get("/sessions/<int:treatment_id>/qr.<any(png, svg):kind>")
@login_required
def session_qr(treatment_id, kind):
    """The QR code as a file, e.g. for a message to the client."""
    t = own_session(treatment_id)
    if t.revoked_at is not None:
        abort(410)
    url = client_link(t)
    body, mimetype = ((qr.png(url), "image/png") if kind == "png"
                      else (qr.svg(url, title=qr_title(t)), "image/svg+xml"))
    filename = f"aftercare-{treatments.format_short_code(t.short_code)}.{kind}"
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/sessions/<int:treatment_id>/card")
@login_required
def session_card(treatment_id):
    """The printed aftercare card (A6): QR code, code, and the first rules."""
    t = own_session(treatment_id)
    i18n.use_language_of(t)  # the client's language, unless staff pick one (?lang=)
    url = client_link(t)
    rules = treatments.first_rules(t) if t.revoked_at is None else []
    # qr.svg() is segno's own markup around a URL we made: safe to embed.
    return render_template(
        "clinic/card.html", t=t, qr_svg=Markup(qr.svg(url, title=qr_title(t))), rules=rules,
        short_code=treatments.format_short_code(t.short_code),
        public_url=current_app.config["PUBLIC_URL"])


@bp.route("/sessions/<int:treatment_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke(treatment_id):
    """Withdraw a client's link, after a confirming step."""
    t = own_session(treatment_id)
    if request.method == "GET":
        return render_template("clinic/revoke.html", t=t)
    treatments.revoke(g.staff.clinic_id, t.id)
    flash(_("%(name)s's link is withdrawn.", name=t.client_name))
    return redirect(url_for("clinic.session_page", treatment_id=t.id), code=303)


@bp.route("/sessions/<int:treatment_id>/erase", methods=["GET", "POST"])
@login_required
def erase(treatment_id):
    """Delete a session and everything about it, after a confirming step."""
    t = own_session(treatment_id)
    if request.method == "GET":
        return render_template("clinic/erase.html", t=t, earlier=treatments.history(t))
    try:
        erasure.erase_for_clinic(g.staff.clinic_id, t.id)
    except treatments.LinkNotFound:
        own_session(treatment_id)  # deleted meanwhile: shows by whom
        raise
    # No name in the message: it travels in the session cookie, and the name is gone.
    flash(_("Session %(id)s and everything about it are deleted.", id=treatment_id))
    return redirect(url_for("clinic.dashboard"), code=303)


# -- Settings ------------------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings():
    """The clinic's details and its own protocol defaults."""
    clinic = g.staff.clinic
    if request.method == "GET":
        return render_settings(clinic, settings_defaults(clinic), {})
    form = form_values(request.form)
    data, sent_rows, own_errors = settings_data(form)
    try:
        if own_errors:
            clinics.parse_settings(data, partial=True)  # for its messages too; stores nothing
            raise registration.Invalid({})
        clinics.update(clinic, data)
    except registration.Invalid as invalid:
        fields = dict(invalid.fields)
        if own_errors:
            fields.pop("protocol_overrides", None)  # the same problem, told less clearly
        shipped = protocols.raw("microneedling")["restrictions"]
        errors = {**field_errors(fields, shipped, sent_rows), **own_errors}
        return render_settings(clinic, form, errors), 422
    flash(_("Settings saved. Clients see them the next time they open their plan."))
    return redirect(url_for("clinic.settings"), code=303)


def render_settings(clinic, form, errors):
    shipped = protocols.raw("microneedling")
    return render_template(
        "clinic/settings.html", form=form, errors=errors, labels=labels(),
        restrictions=restriction_rows(shipped["restrictions"], form),
        default_weeks=shipped["series"]["interval_weeks"],
        **step_layout(form, errors), step_times=step_time_choices(),
        time_zones=sorted(registration.time_zones()), languages=list(i18n.NAMES.items()))


def step_layout(form, errors):
    """Rows in use (and one empty) stay open; the other empty rows fold away."""
    used = [n for n in range(1, clinics.EXTRA_STEPS_MAX + 1)
            if form.get(f"step-{n}-title") or form.get(f"step-{n}-text")
            or any(k.startswith(f"step-{n}-") for k in errors)]
    empty = [n for n in range(1, clinics.EXTRA_STEPS_MAX + 1) if n not in used]
    return {"steps_open": used + empty[:1], "steps_folded": empty[1:]}


