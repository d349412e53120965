"""The plan as JSON: what GET /api/v1/me/plan returns and what the page carries for offline use."""


def _iso(moment):
    return moment.isoformat() if moment is not None else None


def restriction(status):
    r = status.restriction
    return {
        "id": r.id,
        "title": r.title,
        "avoid": r.avoid,
        "allowed": r.allowed,
        "ends_at": _iso(status.ends_at),
        "ends_local": _iso(status.ends_local),
        "ends_day": status.ends_day,
        "active": status.active,
        "remaining_seconds": int(status.remaining.total_seconds()),
    }


def step(view):
    s = view.step
    return {
        "id": s.id,
        "title": s.title,
        "text": s.text,
        "time": s.time,
        "not_before": _iso(view.not_before),
    }


def day(d):
    return {
        "number": d.number,
        "date": d.date.isoformat(),
        "steps": [step(v) for v in d.steps],
        "normal": [{"id": n.id, "text": n.text} for n in d.normal],
        "unlocks": [
            {"id": u.restriction.id, "title": u.restriction.title,
             "allowed": u.restriction.allowed, "ends_local": _iso(u.ends_local)}
            for u in d.unlocks
        ],
    }


def next_session(ns):
    if ns is None:
        return None
    return {
        "index": ns.index,
        "total": ns.total,
        "earliest": ns.earliest.isoformat(),
        "latest": ns.latest.isoformat(),
        "earliest_day": ns.earliest_day,
        "precare": [{"id": p.id, "text": p.text, "from": start.isoformat()}
                    for p, start in ns.precare],
    }


def clinic(c):
    return {
        "name": c.name,
        "phone": c.phone,
        "booking_url": c.booking_url,
        "emergency_text": c.emergency_text,
    }


def plan(treatment, p, protocol_name):
    """The whole plan of one session at one moment."""
    return {
        "session": {
            "client_name": treatment.client_name,
            "treated_at": _iso(treatment.treated_at),
            "timezone": p.timezone,
            "protocol": {"id": treatment.protocol_id, "name": protocol_name},
            "series": {"index": treatment.series_index, "total": treatment.series_total},
            "note": treatment.note,
        },
        "clinic": clinic(treatment.clinic),
        "generated_at": _iso(p.now_local),
        "day": p.day,
        "in_recovery": p.in_recovery,
        "today": day(p.today),
        "off_limits": [restriction(s) for s in p.off_limits],
        "allowed": [restriction(s) for s in p.allowed],
        "warnings": [{"id": w.id, "text": w.text, "level": w.level} for w in p.warnings],
        "timeline": [day(d) for d in p.timeline],
        "next_session": next_session(p.next_session),
    }
