"""Languages: which one a page is in, the catalogues, and the protocol's words in it.

The order a page's language is chosen in: an explicit ?lang= (kept in a cookie), the
language stored for the client's session, the browser's Accept-Language, the clinic's
default. What is rendered without a request (pushes, check-in replies) runs inside
`force_locale(language_of(treatment))`.
"""
import dataclasses
from functools import lru_cache
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import g, request
from flask_babel import force_locale, get_locale, get_translations, gettext, refresh

from .extensions import babel

LANGUAGES = ("en", "es")
#: what each language is called in itself, for the switcher
NAMES = {"en": "English", "es": "Español"}
DEFAULT = "en"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
TRANSLATIONS = Path(__file__).parent / "translations"



def init_app(app):
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    compile_catalogues()
    babel.init_app(app, locale_selector=select_locale)
    app.after_request(_remember_choice)
    app.context_processor(lambda: {"current_language": current_language(),
                                   "language_links": language_links,
                                   "script_words": script_words})


def compile_catalogues(directory=TRANSLATIONS):
    """Compile each .po whose .mo is missing or older, so a fresh checkout just runs."""
    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)  # two processes starting at once both write a whole file


def supported(value):
    return value if value in LANGUAGES else None


def chosen():
    """The language the visitor picked: ?lang= now, or earlier (the cookie)."""
    return supported(request.args.get("lang")) or supported(request.cookies.get(COOKIE))


def browser_language():
    return request.accept_languages.best_match(LANGUAGES)


def select_locale():
    if request:
        found = (chosen() or supported(g.get("session_language"))
                 or browser_language())
        if found:
            return found
    return supported(g.get("clinic_language")) or DEFAULT


def use_language_of(treatment=None, clinic=None):
    """The page is about this session or clinic: their stored languages come into play."""
    if treatment is not None:
        g.session_language = treatment.language
        clinic = treatment.clinic
    if clinic is not None:
        g.clinic_language = clinic.language
    refresh()


def language_to_store(treatment):
    """The language to keep for a session opened now, if it changes: a fresh choice, or the
    browser's on the first visit."""
    language = chosen() if treatment.language else (chosen() or browser_language())
    return language if language and language != treatment.language else None


def script_words():
    """The words the page's scripts show, in the page's language: {English: translation}, or
    {English singular: [forms]} for plurals. English pages need none (English is the key)."""
    language = current_language()
    if language == DEFAULT:
        return {}
    translations = get_translations()
    words = {}
    for message in script_messages():
        if isinstance(message, tuple):
            one, many = message
            words[one] = [translations.ngettext(one, many, 1), translations.ngettext(one, many, 2)]
        else:
            words[message] = translations.gettext(message)
    return words


@lru_cache(maxsize=1)
def script_messages():
    """Every message the scripts in static/js ask for with gettext()/ngettext(): the same
    extraction babel.cfg runs for the catalogues, so a string added to a script is in both."""
    found = []
    for path in sorted(SCRIPTS.glob("*.js")):
        for _line, message, _comments, _context in extract_from_file(
                "javascript", str(path), keywords={"gettext": None, "ngettext": (1, 2)}):
            message = tuple(message) if isinstance(message, (list, tuple)) else message
            if message not in found:
                found.append(message)
    return tuple(found)


SCRIPTS = Path(__file__).parent.parent / "static" / "js"


def language_of(treatment):
    """The language for what a client gets without a request: theirs, else their clinic's."""
    return supported(treatment.language) or supported(treatment.clinic.language) or DEFAULT


def current_language():
    return str(get_locale() or DEFAULT)


def language_links():
    """[(code, name, url, current)] for a switcher: this page with ?lang=."""
    here = current_language()
    return [(code, NAMES[code], f"{request.path}?lang={code}", code == here)
            for code in LANGUAGES]


def _remember_choice(response):
    lang = supported(request.args.get("lang"))
    if lang and request.cookies.get(COOKIE) != lang:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE, samesite="Lax",
                            httponly=True, secure=request.is_secure)
    return response


# -- The protocol's words ----------------------------------------------------------------------

#: the fields of a protocol's items that clients read; their English is the msgid
TEXT_FIELDS = ("title", "text", "avoid", "allowed")


def localise(protocol):
    """The protocol with its words in the current language (unknown words stay as written)."""
    return _localised(protocol, current_language())


@lru_cache(maxsize=256)
def _localised(protocol, language):
    if language == DEFAULT:
        return protocol

    def item(obj):
        words = {f: gettext_raw(getattr(obj, f)) for f in TEXT_FIELDS if hasattr(obj, f)}
        return dataclasses.replace(obj, **words)

    return dataclasses.replace(
        protocol,
        name=gettext_raw(protocol.name),
        **{key: tuple(item(x) for x in getattr(protocol, key))
           for key in ("steps", "restrictions", "normal", "warnings", "precare")},
    )


def gettext_raw(text):
    """A message without %-formatting: protocol words are data and may contain '%'."""
    return get_translations().gettext(text) if text else text


def extract_protocol(fileobj, keywords, comment_tags, options):
    """Babel extractor for protocol TOML files: every text a client reads becomes a msgid.

    babel.cfg maps companion/protocols/*.toml to this function.
    """
    import tomllib

    source = fileobj.read().decode("utf-8")
    data = tomllib.loads(source)
    lines = source.splitlines()

    def line_of(text):
        needle = text[:40]
        return next((n for n, line in enumerate(lines, 1) if needle in line), 1)

    found = [("name", data.get("name"))]
    for key in ("steps", "restrictions", "normal", "warnings", "precare"):
        for entry in data.get(key, []):
            found += [(f"{key}.{entry.get('id')}.{f}", entry.get(f)) for f in TEXT_FIELDS]
    for where, text in found:
        if text:
            yield line_of(text), None, text, [f"protocol {where}"]
