"""Service: clinics."""
from sqlalchemy import select

from .extensions import db
from .models import Clinic

DEMO_NAME = "Demo Skin Clinic"


def create(name, *, phone=None, timezone="UTC", booking_url=None, emergency_text=None):
    """A new clinic. Commits."""
    clinic = Clinic(name=name, phone=phone, timezone=timezone, booking_url=booking_url,
                    emergency_text=emergency_text)
    db.session.add(clinic)
    db.session.commit()
    return clinic


def demo_clinic():
    """The demo clinic, created on first use and reused after."""
    clinic = db.session.scalar(select(Clinic).where(Clinic.name == DEMO_NAME))
    return clinic or create(
        DEMO_NAME,
        # A number reserved for drama by Ofcom: it looks real and reaches nobody.
        phone="+44 20 7946 0000",
        timezone="Europe/London",
        booking_url="https://example.com/book",
        emergency_text="If you have trouble breathing or your face or throat swells, call 999 now.",
    )
