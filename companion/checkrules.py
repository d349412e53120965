"""The daily check-in's rules: a client's answers against what is usual on that recovery day.

Pure and stdlib only: the rules (from the protocol), the recovery day, today's answers and
the client's earlier answers go in; an outcome and its reasons come out. Nothing here
diagnoses or names a medicine: an outcome only says how soon to involve someone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from gettext import NullTranslations

LEVELS = ("none", "mild", "moderate", "strong")  #: the answer scale, least first
SYMPTOMS = ("redness", "swelling", "pain", "itch")
SIGNS = ("warmth", "pus", "blisters", "rash", "fever", "breathing", "facial_swelling")
OUTCOMES = ("expected", "watch", "contact_clinic", "emergency")  #: least urgent first
FLAGGED = ("contact_clinic", "emergency")  #: outcomes the clinic follows up

#: English unless a caller passes the client's translations (a gettext.GNUTranslations)
ENGLISH = NullTranslations()


def N_(text):
    """Marks a message for extraction; it is translated where it is used."""
    return text


#: how a sign reads to clinic staff and to the client; words of the protocol's warnings
SIGN_TEXT = {
    "warmth": N_("Treated skin feels hot, or warmer than the day before."),
    "pus": N_("Pus or yellow crusts."),
    "blisters": N_("Blisters or cold sores."),
    "rash": N_("A spreading rash."),
    "fever": N_("A fever."),
    "breathing": N_("Difficulty breathing."),
    "facial_swelling": N_("Swelling of the face or throat."),
}


@dataclass(frozen=True)
class LevelRule:
    """What is usual for one symptom on recovery days [from_day, to_day]."""

    id: str
    symptom: str
    from_day: int
    to_day: int
    expected: str  #: the most that is usual: "this is expected"
    watch: str  #: above `expected` up to this: "keep an eye on it"; above it: contact the clinic


@dataclass(frozen=True)
class Rules:
    levels: tuple[LevelRule, ...]
    signs: tuple[tuple[str, str], ...]  #: (sign, outcome) for every sign
    #: from the day after `worse_after_day`, these symptoms must not rise again
    worse_symptoms: tuple[str, ...] = ("redness", "swelling", "pain")
    worse_after_day: int = 2

    def limits(self, symptom: str, day: int) -> tuple[str, str]:
        """(expected, watch) for a symptom on a day; a day no rule covers expects nothing."""
        for rule in self.levels:
            if rule.symptom == symptom and rule.from_day <= day <= rule.to_day:
                return rule.expected, rule.watch
        return "none", "none"

    def sign_outcome(self, sign: str) -> str:
        return dict(self.signs).get(sign, "contact_clinic")


@dataclass(frozen=True)
class Answers:
    redness: str = "none"
    swelling: str = "none"
    pain: str = "none"
    itch: str = "none"
    signs: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for symptom in SYMPTOMS:
            if self.level(symptom) not in LEVELS:
                raise ValueError(f"{symptom}: {self.level(symptom)!r} is not one of {LEVELS}")
        unknown = set(self.signs) - set(SIGNS)
        if unknown:
            raise ValueError(f"unknown signs: {sorted(unknown)}")
        object.__setattr__(self, "signs", frozenset(self.signs))

    def level(self, symptom: str) -> str:
        return getattr(self, symptom)


@dataclass(frozen=True)
class Reason:
    kind: str  #: "sign" | "level" | "worse"
    subject: str  #: the sign or symptom
    outcome: str
    text: str  #: one plain sentence, no diagnosis


def _rank(scale: tuple[str, ...], value: str) -> int:
    return scale.index(value)


def judge(
    rules: Rules,
    day: int,
    answers: Answers,
    earlier: tuple[tuple[int, Answers], ...] | list = (),
    t: NullTranslations = ENGLISH,
) -> tuple[str, tuple[Reason, ...]]:
    """The outcome of a check-in on recovery `day`, and why (most urgent reason first).

    `earlier` holds the client's earlier check-ins of the same session as (day, answers),
    oldest first; only those of earlier days count, so a symptom that rises within a day
    is judged by its level alone. Reasons read in the language of `t`.
    """
    reasons = [
        Reason("sign", sign, rules.sign_outcome(sign), t.gettext(SIGN_TEXT[sign]))
        for sign in SIGNS if sign in answers.signs
    ]
    for symptom in SYMPTOMS:
        reason = _level_reason(rules, day, symptom, answers.level(symptom), t)
        if reason:
            reasons.append(reason)
    previous = [(d, a) for d, a in earlier if d < day]
    if previous and day > rules.worse_after_day:
        last_day, last = previous[-1]
        for symptom in rules.worse_symptoms:
            reason = _worse_reason(symptom, last_day, last.level(symptom), answers.level(symptom), t)
            if reason:
                reasons.append(reason)
    reasons.sort(key=lambda r: -_rank(OUTCOMES, r.outcome))
    outcome = reasons[0].outcome if reasons else "expected"
    return outcome, tuple(reasons)


def _symptom(t, symptom):
    return {"redness": t.pgettext("symptom", "redness"), "swelling": t.pgettext("symptom", "swelling"),
            "pain": t.pgettext("symptom", "pain"), "itch": t.pgettext("symptom", "itch")}[symptom]


def _level(t, level):
    return {"none": t.pgettext("level", "none"), "mild": t.pgettext("level", "mild"),
            "moderate": t.pgettext("level", "moderate"),
            "strong": t.pgettext("level", "strong")}[level]


def _sentence(text):
    return text[:1].upper() + text[1:]


def _level_reason(rules: Rules, day: int, symptom: str, level: str,
                  t: NullTranslations = ENGLISH) -> Reason | None:
    expected, watch = rules.limits(symptom, day)
    if _rank(LEVELS, level) <= _rank(LEVELS, expected):
        return None
    outcome = "watch" if _rank(LEVELS, level) <= _rank(LEVELS, watch) else "contact_clinic"
    name = _symptom(t, symptom)
    if expected == "none":
        usual = t.gettext("no %(symptom)s") % {"symptom": name}
    else:
        usual = t.gettext("up to %(level)s %(symptom)s") % {"level": _level(t, expected),
                                                            "symptom": name}
    text = t.gettext("%(level)s %(symptom)s; %(usual)s is usual on day %(day)s.") % {
        "level": _level(t, level), "symptom": name, "usual": usual, "day": day}
    return Reason("level", symptom, outcome, _sentence(text))


def _worse_reason(symptom: str, last_day: int, before: str, now: str,
                  t: NullTranslations = ENGLISH) -> Reason | None:
    if _rank(LEVELS, now) <= _rank(LEVELS, before):
        return None
    words = {"symptom": _symptom(t, symptom), "now": _level(t, now),
             "before": _level(t, before), "day": last_day}
    if before == "none":
        text = t.gettext("%(symptom)s came back (%(now)s) after it had gone on day %(day)s.")
    else:
        text = t.gettext("%(symptom)s got worse (%(now)s) after it was %(before)s on day %(day)s.")
    return Reason("worse", symptom, "contact_clinic", _sentence(text % words))


def message(
    outcome: str,
    day: int,
    *,
    treatment_name: str,
    recovery_days: int,
    clinic_name: str | None = None,
    clinic_phone: str | None = None,
    t: NullTranslations = ENGLISH,
) -> str:
    """What the client reads: plain and conservative, the same words for everyone."""
    words = {"day": day, "treatment": treatment_name.lower(), "clinic": clinic_name,
             "phone": clinic_phone, "recovery_days": recovery_days}
    if outcome == "emergency":
        return t.gettext("Call emergency services now.")  # nothing may distract from this
    if outcome == "expected":
        text = t.gettext("What you describe is expected on day %(day)s after %(treatment)s."
                         " Keep following today's care.") % words
    elif outcome == "watch":
        text = t.gettext("This is a little more than usual for day %(day)s. Keep an eye on it and"
                         " check in again tomorrow. If it gets worse, contact your clinic.") % words
    elif outcome == "contact_clinic":
        text = t.gettext("Please contact your clinic today and tell them what you noticed.")
        if clinic_name and clinic_phone:
            text += " " + t.gettext("Call %(clinic)s on %(phone)s.") % words
        elif clinic_name:
            text += " " + t.gettext("Your clinic: %(clinic)s.") % words
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    if day > recovery_days:
        text += " " + t.gettext(
            "Your check-in is from day %(day)s, after the usual recovery time of %(recovery_days)s"
            " days; your answers were compared with what is usual by then.") % words
    return text
