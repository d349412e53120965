"""Subscriber i's push keys, derived from a seed: the benchmark stores the public halves,
the push service fake derives the private ones to decrypt what it receives."""
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

#: the order of the P-256 group
ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def subscriber(seed, i):
    """(private key, auth secret) of subscriber i."""
    digest = hashlib.sha256(f"{seed}/key/{i}".encode()).digest()
    private = ec.derive_private_key(int.from_bytes(digest, "big") % (ORDER - 1) + 1,
                                    ec.SECP256R1())
    return private, hashlib.sha256(f"{seed}/auth/{i}".encode()).digest()[:16]


def public(seed, i):
    """(p256dh, auth) of subscriber i as a browser gives them: raw point and secret, bytes."""
    private, auth = subscriber(seed, i)
    point = private.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
    return point, auth


def client_name(i):
    """The (fake) personal data stored for subscriber i's session: never in a push."""
    return f"Client {i:06d}"
