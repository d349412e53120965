"""Client pages: find a plan by short code, and the plan itself at /s/<token>."""
from datetime import datetime, timedelta, timezone

from babel import dates
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _, ngettext

from . import api, i18n, plandata, pwa, subscriptions, treatments
from .extensions import csrf

bp = Blueprint("client", __name__)

TOKEN_HEADERS = {
    # The token is in the URL: never leak it to another site, a search engine or a shared cache.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-cache",
    "X-Robots-Tag": "noindex, nofollow",
}


@bp.get("/")
def home():
    """Start page: type the short code from the aftercare card."""
    return render_template("client/home.html")


@bp.post("/")
@csrf.exempt  # changes nothing and needs no sign-in; the page is also kept offline
def find():
    """Short code typed by the client -> their plan."""
    text = request.form.get("code", "")[:40]
    if treatments.normalise_short_code(text) is None:
        error = _("A code has 8 letters and numbers, like ABCD-2345. Please check your card.")
        return render_template("client/home.html", code=text, error=error), 400
    try:
        treatment = treatments.by_short_code(text)
    except treatments.LinkRevoked:
        return render_template("client/revoked.html"), 410
    except treatments.LinkNotFound:
        treatment = None
    if treatment is None or not short_code_usable(treatment, datetime.now(timezone.utc)):
        # An expired code reads like a wrong one: neither says whether the code ever existed.
        error = _("We could not find a plan with that code. Please check it, or ask your clinic.")
        return render_template("client/home.html", code=text, error=error), 404
    return redirect(url_for("client.plan", token=treatment.token), code=303)


def short_code_usable(treatment, now):
    """A short code opens its plan for SHORT_CODE_DAYS after registration (the link and the
    installed app go on working): its lifetime bounds how long it can be guessed at."""
    return now - treatment.created_at <= timedelta(days=current_app.config["SHORT_CODE_DAYS"])


@bp.get("/s/<token>")
def plan(token):
    """The client's aftercare plan: Today, Timeline, Next session."""
    now = datetime.now(timezone.utc)
    # The installed app starts at ?app=1 (see manifest): how the clinic knows it was installed.
    treatment, care_plan = _open(token, now, installed=request.args.get("app") == "1")
    language = i18n.language_to_store(treatment)
    if language:
        subscriptions.set_language(treatment, language, now)
    i18n.use_language_of(treatment)
    care_plan = treatments.plan_for(treatment, now)  # in the language just settled
    protocol = treatments.protocol_for(treatment)
    data = plandata.plan(treatment, care_plan, protocol.name)
    body = render_template(
        "client/plan.html",
        treatment=treatment,
        plan=care_plan,
        protocol=protocol,
        plan_json=data,
        short_code=treatments.format_short_code(treatment.short_code),
        history=[(t.series_index, t.treated_at.astimezone(care_plan.now_local.tzinfo))
                 for t in treatments.history(treatment)],
    )
    return body, 200, TOKEN_HEADERS


@bp.get("/s/<token>/manifest.webmanifest")
def manifest(token):
    """Per-session manifest: a home-screen app opens this client's plan, not the start page."""
    treatment = _open(token)[0]
    plan_url = url_for("client.plan", token=treatment.token)
    i18n.use_language_of(treatment)
    return pwa.manifest_response(_("%(clinic)s aftercare", clinic=treatment.clinic.name),
                                 plan_url + "?app=1",
                                 TOKEN_HEADERS, app_id=plan_url)


@bp.get("/s/<token>/calendar.ics")
def calendar(token):
    """The calendar file, downloadable from the plan page (a link cannot carry a header)."""
    treatment, care_plan = _open(token)
    return api.calendar_response(treatment, care_plan)


def _open(token, now=None, installed=False):
    try:
        return treatments.open_plan(token, now, installed=installed)
    except treatments.LinkRevoked:
        abort(410)
    except treatments.LinkNotFound:
        abort(404)



@bp.app_template_filter("longdate")
def longdate(value):
    """Saturday 21 November; sábado 21 de noviembre"""
    # Translators: a CLDR date pattern (EEEE weekday, d day, MMMM month); quote words: 'de'.
    return dates.format_date(value, _("EEEE d MMMM"), locale=get_locale())


@bp.app_template_filter("shortdate")
def shortdate(value):
    """Sat 21 Nov"""
    # Translators: a CLDR date pattern (EEE short weekday, d day, MMM short month).
    return dates.format_date(value, _("EEE d MMM"), locale=get_locale())


@bp.app_template_filter("hm")
def hm(value):
    return f"{value:%H:%M}"


@bp.app_template_filter("countdown")
def countdown(delta):
    """A remaining time as a person says it: '2 days 4 h', '5 h 20 min', '12 min'."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = ngettext("%(num)d day", "%(num)d days", days)
        return text + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {mins} min" if mins else "")
    return f"{max(mins, 1)} min"


@bp.app_template_filter("tel")
def tel(phone):
    """A tel: link from a number written for people."""
    return "tel:" + "".join(c for c in phone if c.isdigit() or c == "+")


@bp.app_template_filter("relday")
def relday(moment, now):
    """'today at 18:30', 'tomorrow at 18:30' or 'Sat 28 Nov at 18:30', in the client's zone."""
    days = (moment.date() - now.date()).days
    time = hm(moment)
    if days == 0:
        return _("today at %(time)s", time=time)
    if days == 1:
        return _("tomorrow at %(time)s", time=time)
    if days == -1:
        return _("yesterday at %(time)s", time=time)
    return _("%(date)s at %(time)s", date=shortdate(moment), time=time)
