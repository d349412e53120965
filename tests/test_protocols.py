"""Protocol files: the shipped one, every kind of broken one, and clinic overrides."""

import json
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from companion import careplan, protocols
from companion.protocols import ProtocolError, load, load_file, merge, parse, raw

SHIPPED = Path(protocols.__file__).parent / "microneedling.toml"
DOCS = Path(__file__).parent.parent / "docs" / "care-protocol.md"
MADRID = ZoneInfo("Europe/Madrid")


def datetime_madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


def by_id(items) -> dict:
    return {item.id: item for item in items}


# -- The shipped protocol -------------------------------------------------------------------


def test_available_lists_the_shipped_protocol():
    assert protocols.available() == ["microneedling"]


def test_shipped_protocol_loads_with_its_numbers():
    protocol = load()
    assert load("microneedling") is protocol  # cached
    assert (protocol.id, protocol.version) == ("microneedling", 1)
    assert (protocol.expected_recovery_days, protocol.timeline_days) == (7, 14)
    assert protocol.series == careplan.Series(4, 6, 3, 6)
    limits = {r.id: (r.hours, r.days) for r in protocol.restrictions}
    assert limits == {
        "makeup": (24, None),
        "exercise": (72, None),
        "heat": (72, None),
        "actives": (None, 7),
        "exfoliation": (None, 7),
        "picking": (None, 7),
        "alcohol-toner": (None, 14),
        "sun": (None, 14),
    }
    steps = by_id(protocol.steps)
    assert (steps["first-cleanse"].from_day, steps["first-cleanse"].to_day) == (0, 0)
    assert steps["first-cleanse"].not_before_hours == 6
    assert (steps["sunscreen"].from_day, steps["sunscreen"].to_day) == (1, 14)
    assert steps["sunscreen"].time == "morning"
    assert (steps["let-flakes-shed"].from_day, steps["let-flakes-shed"].to_day) == (3, 5)
    normal = {n.id: (n.from_day, n.to_day) for n in protocol.normal}
    assert normal["redness"] == (0, 3)
    assert normal["pinpoint-bleeding"] == (0, 0)
    assert normal["swelling"] == (0, 2)
    assert normal["dryness"] == (3, 5)
    levels = {w.id: w.level for w in protocol.warnings}
    assert [i for i, level in levels.items() if level == "emergency"] == [
        "breathing", "face-throat-swelling",
    ]
    assert len(levels) == 11
    precare = {p.id: p.days_before for p in protocol.precare}
    assert precare["pause-retinoids"] == 5
    assert precare["no-sunburn"] == 14


def test_shipped_protocol_plan_on_day_one():
    plan = careplan.build_plan(
        load(), datetime_madrid(2026, 5, 10, 10), "Europe/Madrid", datetime_madrid(2026, 5, 11, 9)
    )
    assert [(v.step.id, v.not_before) for v in plan.today.steps] == [
        ("cleanse-morning", None),
        ("sunscreen", datetime_madrid(2026, 5, 11, 10)),
        ("moisturise", None),
        ("hands-off", None),
        ("cleanse-evening", None),
        ("clean-pillowcase", None),
    ]
    assert [s.restriction.id for s in plan.off_limits][:3] == ["makeup", "exercise", "heat"]
    assert [w.level for w in plan.warnings][:3] == ["emergency", "emergency", "clinic"]
    assert len(plan.timeline) == 15
    assert plan.next_session.earliest == date(2026, 6, 7)


def test_schema_is_a_valid_json_schema():
    schema = json.loads((SHIPPED.parent / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)


def test_shipped_file_points_to_its_sources():
    assert "docs/care-protocol.md" in SHIPPED.read_text(encoding="utf-8")


def test_docs_source_every_item_of_the_shipped_protocol():
    docs = DOCS.read_text(encoding="utf-8")
    protocol = load()
    items = (protocol.steps + protocol.restrictions + protocol.normal + protocol.warnings
             + protocol.precare)
    missing = [item.id for item in items if f"`{item.id}`" not in docs]
    assert missing == []


# -- Broken files ----------------------------------------------------------------------------


def broken(change) -> dict:
    data = raw("microneedling")
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        # missing field
        (lambda d: d["steps"][1].pop("title"), "steps[1].title: is missing"),
        (lambda d: d.pop("series"), "series: is missing"),
        (lambda d: d["series"].pop("interval_weeks"), "series.interval_weeks: is missing"),
        # wrong type
        (lambda d: d["restrictions"].__setitem__(0, {**d["restrictions"][0], "hours": "24"}),
         "restrictions[0].hours: '24' is not of type 'integer'"),
        (lambda d: d.__setitem__("version", True), "version: True is not of type 'integer'"),
        (lambda d: d.__setitem__("steps", {}), "steps: {} is not of type 'array'"),
        (lambda d: d["normal"][0].__setitem__("from_day", 1.5),
         "normal[0].from_day: 1.5 is not of type 'integer'"),
        # out of range
        (lambda d: d["restrictions"][2].__setitem__("hours", -3),
         "restrictions[2].hours: -3 is less than the minimum of 1"),
        (lambda d: d["restrictions"][3].__setitem__("days", 0),
         "restrictions[3].days: 0 is less than the minimum of 1"),
        (lambda d: d["precare"][0].__setitem__("days_before", -1),
         "precare[0].days_before: -1 is less than the minimum of 0"),
        (lambda d: d["steps"][0].__setitem__("text", ""),
         "steps[0].text: '' should be non-empty"),
        # both or neither of hours and days
        (lambda d: d["restrictions"][0].__setitem__("days", 1),
         "restrictions[0]: give exactly one of hours or days (found hours and days)"),
        (lambda d: d["restrictions"][1].pop("hours"),
         "restrictions[1]: give exactly one of hours or days (found neither)"),
        # duplicate id
        (lambda d: d["steps"][2].__setitem__("id", "first-cleanse"),
         "steps[2].id: duplicate id 'first-cleanse' (first used by steps[0])"),
        (lambda d: d["warnings"].append(dict(d["warnings"][0])),
         "warnings[11].id: duplicate id 'breathing' (first used by warnings[0])"),
        # day range
        (lambda d: d["normal"][0].update(from_day=5, to_day=3),
         "normal[0].to_day: 3 is before from_day 5"),
        (lambda d: d["steps"][5].update(from_day=6),
         "steps[5].to_day: 5 is before from_day 6"),
        # bad enum values
        (lambda d: d["warnings"][0].__setitem__("level", "urgent"),
         "warnings[0].level: 'urgent' is not one of ['clinic', 'emergency']"),
        (lambda d: d["steps"][0].__setitem__("time", "noon"),
         "steps[0].time: 'noon' is not one of ['morning', 'evening', 'anytime']"),
        # unknown field, bad id
        (lambda d: d["restrictions"][0].__setitem__("hour", 24),
         "restrictions[0].hour: is not a known field"),
        (lambda d: d.__setitem__("colour", "blue"), "colour: is not a known field"),
        (lambda d: d["normal"][1].__setitem__("id", "Pinpoint Bleeding"),
         "normal[1].id: 'Pinpoint Bleeding' does not match '^[a-z0-9]+(-[a-z0-9]+)*$'"),
        # series
        (lambda d: d["series"].update(interval_weeks=8),
         "series.interval_weeks_max: 6 is less than interval_weeks 8"),
        (lambda d: d["series"].update(sessions_min=7),
         "series.sessions_max: 6 is less than sessions_min 7"),
        (lambda d: d.__setitem__("warnings", []), "warnings: [] should be non-empty"),
    ],
)
def test_broken_protocol_names_file_and_field(change, problem):
    with pytest.raises(ProtocolError) as caught:
        parse(broken(change), "microneedling.toml")
    assert f"microneedling.toml: {problem}" in str(caught.value).splitlines()
    assert problem in caught.value.problems
    assert caught.value.source == "microneedling.toml"


def test_every_problem_is_reported_not_just_the_first():
    def change(d):
        d["steps"][0].pop("title")
        d["restrictions"][2]["hours"] = -3
        d["warnings"][1]["level"] = "urgent"

    with pytest.raises(ProtocolError) as caught:
        parse(broken(change), "clinic.toml")
    assert sorted(str(caught.value).splitlines()) == [
        "clinic.toml: restrictions[2].hours: -3 is less than the minimum of 1",
        "clinic.toml: steps[0].title: is missing",
        "clinic.toml: warnings[1].level: 'urgent' is not one of ['clinic', 'emergency']",
    ]


def test_several_missing_fields_are_each_named():
    with pytest.raises(ProtocolError) as caught:
        parse(broken(lambda d: d["warnings"].__setitem__(0, {"id": "x"})), "p.toml")
    assert caught.value.problems == [
        "warnings[0].text: is missing",
        "warnings[0].level: is missing",
    ]


def test_not_a_table_at_all():
    with pytest.raises(ProtocolError, match=re.escape("p.toml: (top level): [] is not of type")):
        parse([], "p.toml")


def test_protocol_error_is_a_value_error():
    assert issubclass(ProtocolError, ValueError)


def test_load_file_names_the_file(tmp_path):
    path = tmp_path / "clinic.toml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").replace("hours = 72", "hours = -3"))
    with pytest.raises(ProtocolError) as caught:
        load_file(path)
    assert str(caught.value).splitlines() == [
        "clinic.toml: restrictions[1].hours: -3 is less than the minimum of 1",
        "clinic.toml: restrictions[2].hours: -3 is less than the minimum of 1",
    ]


def test_load_file_reads_a_good_file(tmp_path):
    path = tmp_path / "clinic.toml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").replace("days = 14", "days = 21"))
    protocol = load_file(str(path))
    assert by_id(protocol.restrictions)["sun"].days == 21


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('id = "microneedling"\nname = \n', "line 2"),
        ('id = "a"\nid = "b"\n', "line 2"),
        ("[[steps]\n", "line 1"),
    ],
)
def test_bad_toml_syntax(tmp_path, text, where):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProtocolError, match=r"^bad\.toml: invalid TOML: ") as caught:
        load_file(path)
    assert where in str(caught.value)


@pytest.mark.parametrize("protocol_id", ["botox", "../microneedling", "schema", ""])
def test_unknown_protocol_lists_the_available_ones(protocol_id):
    with pytest.raises(ProtocolError, match=re.escape(
        f"unknown protocol {protocol_id!r}; available: microneedling"
    )):
        load(protocol_id)
    with pytest.raises(ProtocolError, match="available: microneedling"):
        raw(protocol_id)


def test_a_protocol_must_be_named_like_its_file(tmp_path, monkeypatch):
    protocols._validator()  # read the real schema before pointing the package elsewhere
    (tmp_path / "peel.toml").write_text(SHIPPED.read_text(encoding="utf-8"))
    monkeypatch.setattr(protocols, "HERE", tmp_path)
    assert protocols.available() == ["peel"]
    with pytest.raises(ProtocolError, match=re.escape(
        "peel.toml: id: 'microneedling' does not match the file name"
    )):
        load("peel")


def test_raw_is_a_fresh_copy_each_time():
    first = raw("microneedling")
    first["restrictions"][0]["hours"] = 1
    assert raw("microneedling")["restrictions"][0]["hours"] == 24
    assert by_id(load().restrictions)["makeup"].hours == 24


# -- Merging overrides --------------------------------------------------------------------------


def test_merge_overrides_an_item_by_id():
    base = raw("microneedling")
    merged = merge(base, {"restrictions": [{"id": "heat", "hours": None, "days": 5}]})
    heat = merged["restrictions"][2]
    assert heat["id"] == "heat"
    assert heat["days"] == 5 and "hours" not in heat
    assert heat["title"] == base["restrictions"][2]["title"]
    assert [r["id"] for r in merged["restrictions"]] == [r["id"] for r in base["restrictions"]]
    assert merged["restrictions"][:2] == base["restrictions"][:2]
    assert base == raw("microneedling")  # pure


def test_merge_appends_new_items_in_order():
    merged = merge(raw("microneedling"), {"warnings": [
        {"id": "numbness", "text": "Numbness.", "level": "clinic"},
        {"id": "breathing", "text": "Trouble breathing. Call 112."},
    ]})
    assert [w["id"] for w in merged["warnings"]][-2:] == ["dark-patches", "numbness"]
    assert merged["warnings"][0] == {
        "id": "breathing", "text": "Trouble breathing. Call 112.", "level": "emergency",
    }
    assert len(parse(merged, "clinic").warnings) == 12


@pytest.mark.parametrize(
    ("base", "overrides", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 3}, {"a": 3, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1, "b": 2}, {"b": None}, {"a": 1}),
        ({"a": 1}, {"c": None}, {"a": 1}),
        ({}, {"a": {"x": None, "y": 1}}, {"a": {"y": 1}}),
        ({"l": [{"id": "a", "v": 1}]}, {"l": []}, {"l": [{"id": "a", "v": 1}]}),
        ({"l": []}, {"l": [{"id": "a", "v": None, "w": 2}]}, {"l": [{"id": "a", "w": 2}]}),
        ({"l": [{"id": "a", "v": 1}, {"id": "b", "v": 2}]}, {"l": [{"id": "b", "v": 3}]},
         {"l": [{"id": "a", "v": 1}, {"id": "b", "v": 3}]}),
        ({"l": [1, 2]}, {"l": [{"id": "a"}]}, {"l": [{"id": "a"}]}),
    ],
)
def test_merge_rules(base, overrides, expected):
    assert merge(base, overrides) == expected


def test_merge_shares_nothing_with_its_inputs():
    base = {"l": [{"id": "a", "v": [1]}], "t": {"x": [1]}}
    overrides = {"l": [{"id": "b", "v": [2]}], "t": {"y": [2]}}
    merged = merge(base, overrides)
    merged["l"][0]["v"].append(9)
    merged["l"][1]["v"].append(9)
    merged["t"]["x"].append(9)
    merged["t"]["y"].append(9)
    assert base == {"l": [{"id": "a", "v": [1]}], "t": {"x": [1]}}
    assert overrides == {"l": [{"id": "b", "v": [2]}], "t": {"y": [2]}}


def test_a_merged_override_changes_the_plan():
    treated = datetime_madrid(2026, 5, 10, 10)
    now = datetime_madrid(2026, 5, 14, 9)  # day 4
    shipped = careplan.build_plan(load(), treated, "Europe/Madrid", now)
    clinic = parse(
        merge(raw("microneedling"), {"restrictions": [{"id": "heat", "hours": None, "days": 5}]}),
        "clinic override",
    )
    changed = careplan.build_plan(clinic, treated, "Europe/Madrid", now)

    def heat(plan):
        return next(s for s in plan.restrictions if s.restriction.id == "heat")

    assert (heat(shipped).active, heat(shipped).ends_day) == (False, 3)
    assert (heat(changed).active, heat(changed).ends_day) == (True, 5)
    assert heat(changed).ends_local == datetime_madrid(2026, 5, 15, 10)
    assert "heat" in [s.restriction.id for s in changed.timeline[5].unlocks]
    assert "heat" not in [s.restriction.id for s in changed.timeline[3].unlocks]


def test_a_broken_override_names_its_source():
    with pytest.raises(ProtocolError, match=re.escape(
        "clinic 12: restrictions[2]: give exactly one of hours or days (found hours and days)"
    )):
        parse(merge(raw("microneedling"), {"restrictions": [{"id": "heat", "days": 5}]}),
              "clinic 12")
