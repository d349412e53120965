"""Aftercare protocols as TOML files: load, validate, merge overrides, build careplan.Protocol.

A protocol is checked in two passes: schema.json for shape and ranges, then the rules
that span fields (unique ids, day ranges, exactly one of hours/days, check-in levels for
every recovery day). Every problem is
reported as "<file>: <field path>: <what is wrong>" so a clinic can fix its file.
"""

from __future__ import annotations

import copy
import json
import tomllib
from functools import cache
from pathlib import Path

import jsonschema

from companion import careplan, checkrules

HERE = Path(__file__).parent
LISTS = ("steps", "restrictions", "normal", "warnings", "precare")


class ProtocolError(ValueError):
    """A protocol file that cannot be used; `problems` holds one "path: message" each."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((HERE / "schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_problems(data: dict) -> list[str]:
    problems: list[str] = []
    for error in _validator().iter_errors(data):
        where = list(error.absolute_path)
        if error.validator == "required":
            # jsonschema yields one error per missing field but does not say which.
            found = [f"{_path(where + [k])}: is missing" for k in error.validator_value
                     if k not in error.instance]
        elif error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            found = [f"{_path(where + [k])}: is not a known field" for k in error.instance
                     if k not in known]
        else:
            found = [f"{_path(where)}: {error.message}"]
        problems += [p for p in found if p not in problems]
    return problems


def _rule_problems(data: dict) -> list[str]:
    problems = []
    for key in LISTS:
        first: dict[str, int] = {}
        for i, item in enumerate(data[key]):
            if item["id"] in first:
                problems.append(f"{key}[{i}].id: duplicate id {item['id']!r}"
                                f" (first used by {key}[{first[item['id']]}])")
            first.setdefault(item["id"], i)
            if "from_day" in item and item["from_day"] > item["to_day"]:
                problems.append(f"{key}[{i}].to_day: {item['to_day']} is before"
                                f" from_day {item['from_day']}")
    for i, item in enumerate(data["restrictions"]):
        given = [k for k in ("hours", "days") if k in item]
        if len(given) != 1:
            problems.append(f"restrictions[{i}]: give exactly one of hours or days"
                            f" (found {' and '.join(given) or 'neither'})")
    series = data["series"]
    if series["interval_weeks"] > series["interval_weeks_max"]:
        problems.append(f"series.interval_weeks_max: {series['interval_weeks_max']} is less"
                        f" than interval_weeks {series['interval_weeks']}")
    if series["sessions_min"] > series["sessions_max"]:
        problems.append(f"series.sessions_max: {series['sessions_max']} is less"
                        f" than sessions_min {series['sessions_min']}")
    return problems + _checkin_problems(data)


def _checkin_problems(data: dict) -> list[str]:
    """Check-in levels: ids unique, watch >= expected, every recovery day covered exactly once."""
    problems = []
    levels = data["checkin"]["levels"]
    first: dict[str, int] = {}
    covered: dict[tuple[str, int], int] = {}
    for i, item in enumerate(levels):
        where = f"checkin.levels[{i}]"
        if item["id"] in first:
            problems.append(f"{where}.id: duplicate id {item['id']!r}"
                            f" (first used by checkin.levels[{first[item['id']]}])")
        first.setdefault(item["id"], i)
        if item["from_day"] > item["to_day"]:
            problems.append(f"{where}.to_day: {item['to_day']} is before"
                            f" from_day {item['from_day']}")
        rank = checkrules.LEVELS.index
        if rank(item["watch"]) < rank(item["expected"]):
            problems.append(f"{where}.watch: {item['watch']!r} is below"
                            f" expected {item['expected']!r}")
        for day in range(item["from_day"], item["to_day"] + 1):
            other = covered.setdefault((item["symptom"], day), i)
            if other != i:
                problems.append(f"{where}: {item['symptom']} on day {day} is already"
                                f" covered by checkin.levels[{other}]")
                break
    last = data["expected_recovery_days"]
    for symptom in checkrules.SYMPTOMS:
        missing = [d for d in range(last + 1) if (symptom, d) not in covered]
        if missing:
            problems.append(f"checkin.levels: {symptom} has no entry for"
                            f" {_days(missing)} (every day 0 to {last} needs one)")
    return problems


def _days(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs]
    return ("day " if len(days) == 1 else "days ") + ", ".join(parts)


def _checkin_rules(section: dict) -> checkrules.Rules:
    return checkrules.Rules(
        levels=tuple(checkrules.LevelRule(**item) for item in section["levels"]),
        signs=tuple((sign, section["signs"][sign]) for sign in checkrules.SIGNS),
        worse_symptoms=tuple(section["getting_worse"]["symptoms"]),
        worse_after_day=section["getting_worse"]["after_day"],
    )


def parse(data: dict, source: str) -> careplan.Protocol:
    """Validate a protocol dict (as read from TOML) and build it; `source` names it in errors."""
    problems = _schema_problems(data) or _rule_problems(data)
    if problems:
        raise ProtocolError(source, problems)
    return careplan.Protocol(
        id=data["id"],
        name=data["name"],
        version=data["version"],
        expected_recovery_days=data["expected_recovery_days"],
        timeline_days=data["timeline_days"],
        steps=tuple(careplan.Step(**item) for item in data["steps"]),
        restrictions=tuple(careplan.Restriction(**item) for item in data["restrictions"]),
        normal=tuple(careplan.Normal(**item) for item in data["normal"]),
        warnings=tuple(careplan.WarningSign(**item) for item in data["warnings"]),
        series=careplan.Series(**data["series"]),
        precare=tuple(careplan.PreCare(**item) for item in data["precare"]),
        checkin=_checkin_rules(data["checkin"]),
    )


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(path.name, [f"invalid TOML: {exc}"]) from exc


def load_file(path) -> careplan.Protocol:
    path = Path(path)
    return parse(_read(path), path.name)


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


def _shipped(protocol_id: str) -> Path:
    if protocol_id not in available():
        raise ProtocolError(f"{protocol_id}.toml", [
            f"(top level): unknown protocol {protocol_id!r};"
            f" available: {', '.join(available()) or 'none'}"
        ])
    return HERE / f"{protocol_id}.toml"


def raw(protocol_id: str) -> dict:
    """The shipped protocol as a plain dict, a fresh copy to merge overrides into."""
    return _read(_shipped(protocol_id))


def load(protocol_id: str = "microneedling") -> careplan.Protocol:
    """A shipped protocol, built once per process."""
    return _load(protocol_id)


@cache
def _load(protocol_id: str) -> careplan.Protocol:
    path = _shipped(protocol_id)
    protocol = parse(_read(path), path.name)
    if protocol.id != protocol_id:
        raise ProtocolError(path.name, [f"id: {protocol.id!r} does not match the file name"])
    return protocol


def merge(base: dict, overrides: dict) -> dict:
    """A deep copy of `base` with `overrides` laid over it; neither argument changes.

    Tables merge key by key. Lists of tables with an "id" merge by id: an override's
    fields replace those of the item with its id, unknown ids are appended. Anything
    else replaces. A None value removes the key, e.g. {"id": "heat", "hours": None,
    "days": 5} turns an hours restriction into a days one.
    """
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        current = result.get(key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            result[key] = merge(current, value)
        elif _keyed(value) and _keyed(current):
            result[key] = _merge_by_id(current, value)
        else:
            result[key] = merge({}, value) if isinstance(value, dict) else copy.deepcopy(value)
    return result


def _keyed(value) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "id" in i for i in value)


def _merge_by_id(base: list[dict], overrides: list[dict]) -> list[dict]:
    items = list(base)
    index = {item["id"]: i for i, item in enumerate(items)}
    for item in overrides:
        if item["id"] in index:
            items[index[item["id"]]] = merge(items[index[item["id"]]], item)
        else:
            index[item["id"]] = len(items)
            items.append(merge({}, item))
    return items
