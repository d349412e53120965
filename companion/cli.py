"""Flask commands: flask --app companion <command>."""
import json
import os
import secrets
from pathlib import Path
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from . import apitokens, backups, clinics, database, erasure, push, staff, treatments
from .config import ensure_vapid_key
from .registration import Invalid

clinic_cli = AppGroup("clinic", help="Clinics.")
staff_cli = AppGroup("staff", help="Staff accounts.")
DEMO_STAFF_EMAIL = "staff@demo.companion.test"


def _fail(message):
    raise click.ClickException(message)


@clinic_cli.command("create")
@click.argument("name")
@click.option("--phone", help="shown to clients as a call button")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="IANA time zone")
@click.option("--booking-url", help="where clients book their next session")
def clinic_create(name, phone, zone, booking_url):
    """Create a clinic; prints its id as the last line."""
    try:
        clinic = clinics.create(name, phone=phone, timezone=zone, booking_url=booking_url)
    except Invalid as invalid:
        _fail("; ".join(f"{k} {v}" for k, v in invalid.fields.items()))
    click.echo(f"Created clinic '{clinic.name}'.")
    click.echo(clinic.id)


@staff_cli.command("create")
@click.option("--clinic", "clinic_id", type=int, required=True, help="the clinic's id")
@click.argument("email")
def staff_create(clinic_id, email):
    """Create a staff account. The password is asked for, or read from COMPANION_STAFF_PASSWORD."""
    password = os.environ.get("COMPANION_STAFF_PASSWORD")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = staff.create(clinic_id, email, password)
    except staff.StaffError as error:
        _fail(str(error))
    click.echo(f"Created staff account {user.email} for clinic {clinic_id}.")


@click.command("api-token")
@click.option("--clinic", "clinic_id", type=int, required=True, help="the clinic's id")
@click.option("--name", help="what the token is for, e.g. the booking system")
@click.option("--list", "listing", is_flag=True, help="list the clinic's tokens instead")
@click.option("--revoke", "revoke_id", type=int, help="revoke the token with this id instead")
@with_appcontext
def api_token(clinic_id, name, listing, revoke_id):
    """Create an API token for a clinic; prints it as the last line (it is not shown again)."""
    try:
        if listing:
            for row in apitokens.for_clinic(clinic_id):
                state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                click.echo(f"{row.id}\t{row.prefix}…\t{row.name or ''}\t{state}")
            return
        if revoke_id is not None:
            apitokens.revoke(clinic_id, revoke_id)
            click.echo(f"Revoked token {revoke_id}.")
            return
        row, token = apitokens.issue(clinic_id, name)
    except apitokens.TokenError as error:
        _fail(str(error))
    click.echo(f"Token {row.id} for clinic {clinic_id}; keep it secret, it is shown only once.")
    click.echo(token)


@click.command("vapid")
@click.option("--create", is_flag=True, help="create the key pair if there is none")
@with_appcontext
def vapid_command(create):
    """Show the VAPID public key browsers subscribe with (the key is never replaced)."""
    path = current_app.config["VAPID_PRIVATE_KEY_FILE"]
    if not os.path.exists(path):
        if not create:
            _fail(f"there is no VAPID key at {path}; run with --create to make one.")
        ensure_vapid_key(Path(path))
        click.echo(f"Created a VAPID key pair in {path}.")
    elif create:
        click.echo(f"A VAPID key already exists in {path}; it is kept (a new one would "
                   "break every subscription).")
    key = push.public_key(push.load_vapid(path))
    click.echo(f"VAPID subject: {current_app.config['VAPID_SUBJECT']}")
    click.echo(key)


@click.command("demo")
@with_appcontext
def demo_command():
    """Create a demo clinic, staff account, API token and a session treated yesterday evening."""
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
        areas=["face"],
        note="Lovely to see you today. Drink plenty of water and be gentle with your skin.",
    )
    # A fresh password every run: it is printed here and nowhere stored in the clear.
    password = secrets.token_urlsafe(12)
    user = staff.by_email(DEMO_STAFF_EMAIL)
    if user is None:
        staff.create(clinic.id, DEMO_STAFF_EMAIL, password)
    else:
        staff.set_password(user, password)
    _, token = apitokens.issue(clinic.id, "demo")
    click.echo(f"Demo clinic '{clinic.name}' (id {clinic.id}); session for Sam treated "
               f"{treated_at.astimezone(zone):%a %d %b %H:%M} {clinic.timezone}.")
    click.echo(f"Staff sign-in: {public_url('/clinic/login')}")
    click.echo(json.dumps({
        "clinic_id": clinic.id,
        "session_id": treatment.id,
        "short_code": treatments.format_short_code(treatment.short_code),
        "client_url": public_url(treatments.path(treatment)),
        "staff_email": DEMO_STAFF_EMAIL,
        "staff_password": password,
        "api_token": token,
    }))


def public_url(path):
    return current_app.config["PUBLIC_URL"] + path


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="only list the sessions that would be deleted")
@with_appcontext
def purge_command(dry_run):
    """Delete the sessions past retention: COMPANION_RETENTION_DAYS after their aftercare and
    series window (the scheduler does this too)."""
    try:
        days = erasure.retention_days(current_app.config)
    except ValueError as error:
        _fail(str(error))
    ids = erasure.purge_expired(retention_days=days, dry_run=dry_run)
    if dry_run:
        click.echo(f"{len(ids)} session(s) are more than {days} days past their window; "
                   "nothing was deleted (--dry-run).")
        if ids:
            click.echo(" ".join(str(i) for i in ids))
    else:
        click.echo(f"Deleted {len(ids)} session(s) more than {days} days past their window.")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path):
    """Back up the embedded SQLite database into PATH, while the app runs (PATH is replaced
    whole, or left as it was)."""
    try:
        revision = backups.backup(path)
    except backups.BackupError as error:
        _fail(str(error))
    click.echo(f"Backed up {backups.database_path()} to {path} (schema revision {revision}).")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="replace without asking")
@with_appcontext
def restore_command(path, yes):
    """Replace the embedded SQLite database's contents with the backup in PATH; the current
    contents are kept first as a .bak file beside the database."""
    try:
        live, revision = backups.database_path(), backups.check(path)
    except backups.BackupError as error:
        _fail(str(error))
    if not yes:
        click.confirm(f"Replace everything in {live} with the backup {path} (schema revision "
                      f"{revision})? What is there now is kept as a .bak file first.", abort=True)
    try:
        revision, kept, again = backups.restore(path)
    except backups.BackupError as error:
        _fail(str(error))
    click.echo(f"Kept the previous contents in {kept}.")
    if again:
        click.echo(f"Deleted {again} session(s) again: their clients deleted everything about "
                   "them after this backup was taken.")
    click.echo(f"Restored {path} into {live} (schema revision {revision}, now at "
               f"{database.current()}).")


def init_app(app):
    for command in (clinic_cli, staff_cli, api_token, vapid_command, demo_command, purge_command,
                    backup_command, restore_command):
        app.cli.add_command(command)
