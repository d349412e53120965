"""The daily check-in's rules: a client's answers against what is usual on that recovery day.

Pure and stdlib only: the rules (from the protocol), the recovery day, today's answers and
the client's earlier answers go in; an outcome and its reasons come out. Nothing here
diagnoses or names a medicine: an outcome only says how soon to involve someone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LEVELS = ("none", "mild", "moderate", "strong")  #: the answer scale, least first
SYMPTOMS = ("redness", "swelling", "pain", "itch")
SIGNS = ("warmth", "pus", "blisters", "rash", "fever", "breathing", "facial_swelling")
OUTCOMES = ("expected", "watch", "contact_clinic", "emergency")  #: least urgent first
FLAGGED = ("contact_clinic", "emergency")  #: outcomes the clinic follows up

#: how a sign reads to clinic staff and to the client; words of the protocol's warnings
SIGN_TEXT = {
    "warmth": "Treated skin feels hot, or warmer than the day before.",
    "pus": "Pus or yellow crusts.",
    "blisters": "Blisters or cold sores.",
    "rash": "A spreading rash.",
    "fever": "A fever.",
    "breathing": "Difficulty breathing.",
    "facial_swelling": "Swelling of the face or throat.",
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
) -> tuple[str, tuple[Reason, ...]]:
    """The outcome of a check-in on recovery `day`, and why (most urgent reason first).

    `earlier` holds the client's earlier check-ins of the same session as (day, answers),
    oldest first; only those of earlier days count, so a symptom that rises within a day
    is judged by its level alone.
    """
    reasons = [
        Reason("sign", sign, rules.sign_outcome(sign), SIGN_TEXT[sign])
        for sign in SIGNS if sign in answers.signs
    ]
    for symptom in SYMPTOMS:
        reason = _level_reason(rules, day, symptom, answers.level(symptom))
        if reason:
            reasons.append(reason)
    previous = [(d, a) for d, a in earlier if d < day]
    if previous and day > rules.worse_after_day:
        last_day, last = previous[-1]
        for symptom in rules.worse_symptoms:
            reason = _worse_reason(symptom, last_day, last.level(symptom), answers.level(symptom))
            if reason:
                reasons.append(reason)
    reasons.sort(key=lambda r: -_rank(OUTCOMES, r.outcome))
    outcome = reasons[0].outcome if reasons else "expected"
    return outcome, tuple(reasons)


def _level_reason(rules: Rules, day: int, symptom: str, level: str) -> Reason | None:
    expected, watch = rules.limits(symptom, day)
    if _rank(LEVELS, level) <= _rank(LEVELS, expected):
        return None
    outcome = "watch" if _rank(LEVELS, level) <= _rank(LEVELS, watch) else "contact_clinic"
    usual = f"no {symptom}" if expected == "none" else f"up to {expected} {symptom}"
    return Reason("level", symptom, outcome,
                  f"{level.capitalize()} {symptom}; {usual} is usual on day {day}.")


def _worse_reason(symptom: str, last_day: int, before: str, now: str) -> Reason | None:
    if _rank(LEVELS, now) <= _rank(LEVELS, before):
        return None
    if before == "none":
        text = f"{symptom.capitalize()} came back ({now}) after it had gone on day {last_day}."
    else:
        text = f"{symptom.capitalize()} got worse ({now}) after it was {before} on day {last_day}."
    return Reason("worse", symptom, "contact_clinic", text)


def message(
    outcome: str,
    day: int,
    *,
    treatment_name: str,
    recovery_days: int,
    clinic_name: str | None = None,
    clinic_phone: str | None = None,
) -> str:
    """What the client reads: plain and conservative, the same words for everyone."""
    if outcome == "emergency":
        return "Call emergency services now."  # nothing may distract from this
    if outcome == "expected":
        text = (f"What you describe is expected on day {day} after {treatment_name.lower()}."
                " Keep following today's care.")
    elif outcome == "watch":
        text = (f"This is a little more than usual for day {day}. Keep an eye on it and check"
                " in again tomorrow. If it gets worse, contact your clinic.")
    elif outcome == "contact_clinic":
        text = "Please contact your clinic today and tell them what you noticed."
        if clinic_name and clinic_phone:
            text += f" Call {clinic_name} on {clinic_phone}."
        elif clinic_name:
            text += f" Your clinic: {clinic_name}."
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    if day > recovery_days:
        text += (f" Your check-in is from day {day}, after the usual recovery time of"
                 f" {recovery_days} days; your answers were compared with what is usual by then.")
    return text
