"""Flask commands: flask --app companion <command>."""
import json
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from . import clinics, treatments


@click.command("demo")
@with_appcontext
def demo_command():
    """Create a demo clinic and a session treated yesterday evening; print its link as JSON."""
    clinic = clinics.demo_clinic()
    zone = ZoneInfo(clinic.timezone)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    treated_at = datetime.combine(yesterday, time(18, 30), tzinfo=zone).astimezone(timezone.utc)
    treatment = treatments.create(
        clinic,
        client_name="Sam",
        treated_at=treated_at,
        series_index=1,
        series_total=3,
        note="Lovely to see you today. Drink plenty of water and be gentle with your skin.",
    )
    click.echo(f"Demo clinic '{clinic.name}' (id {clinic.id}); session for Sam treated "
               f"{treated_at.astimezone(zone):%a %d %b %H:%M} {clinic.timezone}.")
    click.echo(json.dumps({
        "clinic_id": clinic.id,
        "session_id": treatment.id,
        "short_code": treatments.format_short_code(treatment.short_code),
        "client_url": public_url(f"/s/{treatment.token}"),
    }))


def public_url(path):
    return current_app.config["PUBLIC_URL"] + path


def init_app(app):
    app.cli.add_command(demo_command)
