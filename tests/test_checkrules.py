"""The check-in rules: every symptom, level and day of the shipped protocol, warning signs,
symptoms that get worse or come back, the client's wording, and broken rule sections."""
from pathlib import Path

import pytest

from companion import checkrules, protocols
from companion.checkrules import LEVELS, SIGNS, SYMPTOMS, Answers, judge, message
from companion.protocols import ProtocolError, merge, parse, raw

RULES = protocols.load().checkin
DOCS = Path(__file__).parent.parent / "docs" / "care-protocol.md"
E, W, C = "expected", "watch", "contact_clinic"
CODE = {"E": E, "W": W, "C": C}

# What each level of a symptom gives on each day, alone: one letter per level
# (none, mild, moderate, strong). Written out by hand from docs/care-protocol.md, so a
# change to the protocol file has to be made here too.
AFTER = "ECCC"  # after day 7 nothing is usual any more
BY_DAY = {
    "redness": {0: "EEEE", 1: "EEEW", 2: "EEEW", 3: "EEWC", 4: "EEWC", 5: "EEWC", 6: "EEWC",
                7: "EEWC"},
    "swelling": {0: "EEWC", 1: "EEWC", 2: "EEWC", 3: "EWCC", 4: "EWCC", 5: "EWCC", 6: "EWCC",
                 7: "EWCC"},
    "pain": {0: "EEEC", 1: "EEWC", 2: "EEWC", 3: "EEWC", 4: "EEWC", 5: "EEWC", 6: "EEWC",
             7: "EEWC"},
    "itch": {0: "EEWC", 1: "EEWC", 2: "EEWC", 3: "EEWC", 4: "EEWC", 5: "EEWC", 6: "EEWC",
             7: "EEWC"},
}
DAYS = list(range(0, 15)) + [30, 90]


def answers(**levels):
    return Answers(**levels)


# -- One symptom at a time, day by day -------------------------------------------------------


@pytest.mark.parametrize("day", DAYS)
@pytest.mark.parametrize("symptom", SYMPTOMS)
@pytest.mark.parametrize("level", LEVELS)
def test_each_symptom_level_and_day(symptom, level, day):
    want = CODE[BY_DAY[symptom].get(day, AFTER)[LEVELS.index(level)]]
    outcome, reasons = judge(RULES, day, answers(**{symptom: level}))
    assert outcome == want
    if want == E:
        assert reasons == ()
    else:
        assert [(r.kind, r.subject, r.outcome) for r in reasons] == [("level", symptom, want)]


@pytest.mark.parametrize("day", DAYS)
def test_nothing_at_all_is_expected_on_every_day(day):
    assert judge(RULES, day, answers()) == (E, ())


@pytest.mark.parametrize(("day", "levels", "want"), [
    (1, {"redness": "mild"}, E),  # mild redness on day 1 is expected
    (0, {"redness": "strong", "swelling": "mild", "pain": "moderate", "itch": "mild"}, E),
    (5, {"redness": "strong"}, C),  # strong redness on day 5 is not
    (2, {"redness": "strong", "swelling": "moderate"}, W),
    (4, {"redness": "moderate", "swelling": "mild", "pain": "moderate", "itch": "moderate"}, W),
    (4, {"redness": "moderate", "swelling": "moderate"}, C),  # the most urgent wins
    (8, {"redness": "mild"}, C),  # redness beyond about 7 days
])
def test_examples_from_the_issue(day, levels, want):
    assert judge(RULES, day, answers(**levels))[0] == want


def test_reasons_say_what_was_more_than_usual():
    _, reasons = judge(RULES, 5, answers(redness="strong", swelling="mild"))
    assert [r.text for r in reasons] == [
        "Strong redness; up to mild redness is usual on day 5.",
        "Mild swelling; no swelling is usual on day 5.",
    ]
    assert [r.outcome for r in reasons] == [C, W], "most urgent first"


# -- Warning signs -------------------------------------------------------------------------------


SIGN_OUTCOMES = {"warmth": C, "pus": C, "blisters": C, "rash": C, "fever": C,
                 "breathing": "emergency", "facial_swelling": "emergency"}


@pytest.mark.parametrize("day", [0, 1, 3, 7, 8, 30])
@pytest.mark.parametrize("sign", SIGNS)
def test_each_sign_on_any_day(sign, day):
    outcome, reasons = judge(RULES, day, answers(signs={sign}))
    assert outcome == SIGN_OUTCOMES[sign]
    assert [(r.kind, r.subject, r.outcome, r.text) for r in reasons] == [
        ("sign", sign, SIGN_OUTCOMES[sign], checkrules.SIGN_TEXT[sign])]


def test_pus_is_never_expected_even_when_everything_else_is():
    assert judge(RULES, 0, answers(redness="mild", signs={"pus"}))[0] == C


def test_emergency_beats_everything_and_comes_first():
    outcome, reasons = judge(RULES, 5, answers(redness="strong", signs={"pus", "facial_swelling"}))
    assert outcome == "emergency"
    assert [r.subject for r in reasons] == ["facial_swelling", "pus", "redness"]


def test_every_sign_has_an_outcome_and_words():
    assert dict(RULES.signs) == SIGN_OUTCOMES
    assert set(checkrules.SIGN_TEXT) == set(SIGNS)


# -- Getting worse, or coming back after improving --------------------------------------------


def history(*entries):
    """(day, {levels}) pairs -> what judge() takes."""
    return [(day, Answers(**levels)) for day, levels in entries]


@pytest.mark.parametrize("symptom", ["redness", "swelling", "pain"])
@pytest.mark.parametrize("day", [3, 4, 5, 6, 7, 8, 10])
def test_a_symptom_that_rises_again_after_day_2_means_contact_the_clinic(symptom, day):
    earlier = history((day - 1, {symptom: "none"}))
    outcome, reasons = judge(RULES, day, answers(**{symptom: "mild"}), earlier)
    assert outcome == C
    worse = [r for r in reasons if r.kind == "worse"]
    assert [(r.subject, r.outcome) for r in worse] == [(symptom, C)]
    assert worse[0].text == (f"{symptom.capitalize()} came back (mild) after it had gone"
                             f" on day {day - 1}.")


def test_redness_lower_on_an_earlier_day_and_higher_again():
    earlier = history((1, {"redness": "moderate"}), (3, {"redness": "mild"}))
    # Moderate on day 4 alone is "watch"; after mild on day 3 it got worse again.
    assert judge(RULES, 4, answers(redness="moderate"))[0] == W
    outcome, reasons = judge(RULES, 4, answers(redness="moderate"), earlier)
    assert outcome == C
    assert reasons[0].text == "Redness got worse (moderate) after it was mild on day 3."


@pytest.mark.parametrize(("earlier", "day", "now", "want"), [
    # fading as it should: nothing to report
    (((0, "strong"), (1, "moderate"), (2, "mild")), 3, "mild", E),
    (((1, "moderate"), (3, "none")), 4, "none", E),
    # a plateau after a peak is not "worse"
    (((2, "moderate"), (3, "mild")), 4, "mild", E),
    # rising up to day 2 is judged by the level alone (swelling may peak on day 2)
    (((0, "none"), (1, "none")), 2, "moderate", E),
    # day 3 is the first day a rise counts
    (((2, "mild"),), 3, "moderate", C),
    # only the last check-in of an earlier day counts
    (((3, "none"), (4, "moderate")), 5, "moderate", W),
    (((3, "moderate"), (4, "mild")), 5, "moderate", C),
    # later check-ins (e.g. sent before an offline one) and the same day do not count
    (((6, "none"),), 5, "mild", E),
    (((5, "none"),), 5, "moderate", W),
])
def test_what_counts_as_getting_worse(earlier, day, now, want):
    past = history(*((d, {"redness": level}) for d, level in earlier))
    assert judge(RULES, day, answers(redness=now), past)[0] == want


def test_itch_is_judged_by_level_only():
    earlier = history((3, {"itch": "none"}))
    assert judge(RULES, 4, answers(itch="mild"), earlier) == (E, ())


def test_swelling_that_stays_after_its_day_2_peak_is_watched_not_flagged():
    earlier = history((1, {"swelling": "none"}), (2, {"swelling": "mild"}))
    outcome, reasons = judge(RULES, 3, answers(swelling="mild"), earlier)
    assert outcome == W
    assert [r.kind for r in reasons] == ["level"]


# -- What the client reads ---------------------------------------------------------------------


def words(outcome, day, **clinic):
    return message(outcome, day, treatment_name="Microneedling", recovery_days=7, **clinic)


def test_messages_are_plain_and_conservative():
    assert words(E, 1) == ("What you describe is expected on day 1 after microneedling."
                           " Keep following today's care.")
    assert words(W, 5) == ("This is a little more than usual for day 5. Keep an eye on it and"
                           " check in again tomorrow. If it gets worse, contact your clinic.")
    assert words(C, 4) == "Please contact your clinic today and tell them what you noticed."
    assert words("emergency", 2) == "Call emergency services now."


def test_contact_the_clinic_names_the_clinic_and_its_phone_when_known():
    full = words(C, 4, clinic_name="Calm Skin Clinic", clinic_phone="+44 20 7946 0123")
    assert full == ("Please contact your clinic today and tell them what you noticed."
                    " Call Calm Skin Clinic on +44 20 7946 0123.")
    assert words(C, 4, clinic_name="Calm Skin Clinic").endswith(" Your clinic: Calm Skin Clinic.")


def test_after_the_recovery_time_the_message_says_so():
    assert words(C, 9).endswith("Your check-in is from day 9, after the usual recovery time of"
                                " 7 days; your answers were compared with what is usual by then.")
    assert "recovery time" not in words(E, 7)
    assert words("emergency", 9) == "Call emergency services now.", "nothing distracts from it"


def test_no_wording_diagnoses_or_doses():
    texts = [words(o, d, clinic_name="C", clinic_phone="1") for o in checkrules.OUTCOMES
             for d in (0, 5, 9)]
    texts += list(checkrules.SIGN_TEXT.values())
    for banned in ("infection", "herpes", "allerg", "mg", "ibuprofen", "paracetamol", "antibiotic"):
        assert not any(banned in t.lower() for t in texts), banned


def test_answers_refuse_unknown_values():
    with pytest.raises(ValueError, match="redness"):
        Answers(redness="severe")
    with pytest.raises(ValueError, match="unknown signs"):
        Answers(signs={"itching"})


# -- The protocol section ---------------------------------------------------------------------------


def test_shipped_rules_cover_every_recovery_day_once():
    for symptom in SYMPTOMS:
        for day in range(8):
            covering = [r.id for r in RULES.levels if r.symptom == symptom
                        and r.from_day <= day <= r.to_day]
            assert len(covering) == 1, (symptom, day, covering)
    assert RULES.worse_symptoms == ("redness", "swelling", "pain")
    assert RULES.worse_after_day == 2


def test_docs_source_every_check_in_rule():
    docs = DOCS.read_text(encoding="utf-8")
    missing = [r.id for r in RULES.levels if f"`{r.id}`" not in docs]
    missing += [s for s in SIGNS if f"`{s}`" not in docs]
    assert missing == []
    assert "`checkin.getting_worse`" in docs


def broken(change) -> dict:
    data = raw("microneedling")
    change(data)
    return data


def level(data, item_id):
    return next(i for i in data["checkin"]["levels"] if i["id"] == item_id)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.pop("checkin"), "checkin: is missing"),
    (lambda d: d["checkin"].pop("signs"), "checkin.signs: is missing"),
    (lambda d: d["checkin"]["signs"].pop("pus"), "checkin.signs.pus: is missing"),
    (lambda d: d["checkin"]["signs"].__setitem__("itching", "watch"),
     "checkin.signs.itching: is not a known field"),
    (lambda d: d["checkin"]["signs"].__setitem__("pus", "expected"),
     "checkin.signs.pus: 'expected' is not one of ['watch', 'contact_clinic', 'emergency']"),
    (lambda d: d["checkin"]["levels"][0].__setitem__("expected", "severe"),
     "checkin.levels[0].expected: 'severe' is not one of"
     " ['none', 'mild', 'moderate', 'strong']"),
    (lambda d: d["checkin"]["levels"][0].__setitem__("symptom", "bruising"),
     "checkin.levels[0].symptom: 'bruising' is not one of"
     " ['redness', 'swelling', 'pain', 'itch']"),
    (lambda d: d["checkin"]["levels"][0].pop("watch"), "checkin.levels[0].watch: is missing"),
    (lambda d: d["checkin"]["levels"][0].__setitem__("from_day", -1),
     "checkin.levels[0].from_day: -1 is less than the minimum of 0"),
    (lambda d: d["checkin"]["getting_worse"].__setitem__("symptoms", ["pain", "pain"]),
     "checkin.getting_worse.symptoms: ['pain', 'pain'] has non-unique elements"),
    (lambda d: d["checkin"]["getting_worse"].__setitem__("after_day", "2"),
     "checkin.getting_worse.after_day: '2' is not of type 'integer'"),
    # rules spanning fields
    (lambda d: level(d, "redness-3-7").update(expected="moderate", watch="mild"),
     "checkin.levels[2].watch: 'mild' is below expected 'moderate'"),
    (lambda d: level(d, "redness-1-2").update(to_day=3),
     "checkin.levels[2]: redness on day 3 is already covered by checkin.levels[1]"),
    (lambda d: level(d, "redness-3-7").update(from_day=5),
     "checkin.levels: redness has no entry for days 3-4 (every day 0 to 7 needs one)"),
    (lambda d: level(d, "itch-0-7").update(to_day=6),
     "checkin.levels: itch has no entry for day 7 (every day 0 to 7 needs one)"),
    (lambda d: level(d, "pain-1-7").update(from_day=5, to_day=4),
     "checkin.levels[6].to_day: 4 is before from_day 5"),
    (lambda d: level(d, "pain-0").__setitem__("id", "pain-1-7"),
     "checkin.levels[6].id: duplicate id 'pain-1-7' (first used by checkin.levels[5])"),
])
def test_broken_check_in_rules_name_file_and_field(change, problem):
    with pytest.raises(ProtocolError) as caught:
        parse(broken(change), "microneedling.toml")
    assert problem in caught.value.problems, caught.value.problems


def test_a_longer_recovery_needs_levels_for_the_extra_days():
    with pytest.raises(ProtocolError) as caught:
        parse(broken(lambda d: d.__setitem__("expected_recovery_days", 9)), "clinic.toml")
    assert caught.value.problems == [
        f"checkin.levels: {s} has no entry for days 8-9 (every day 0 to 9 needs one)"
        for s in SYMPTOMS]


def test_a_clinic_can_change_a_level_by_id():
    changed = parse(merge(raw("microneedling"), {"checkin": {
        "levels": [{"id": "redness-3-7", "watch": "strong"}],
        "signs": {"warmth": "watch"},
    }}), "clinic 3")
    assert changed.checkin.limits("redness", 5) == ("mild", "strong")
    assert judge(changed.checkin, 5, answers(redness="strong"))[0] == W
    assert judge(changed.checkin, 5, answers(signs={"warmth"}))[0] == W
    assert judge(RULES, 5, answers(redness="strong"))[0] == C, "the shipped rules are unchanged"
