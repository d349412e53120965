"""A push service of our own for tests: it really decrypts and really checks VAPID.

Each subscriber gets a fresh P-256 key pair and auth secret, like a browser. Every push is
decrypted (aes128gcm, RFC 8188/8291) with the subscriber's private key, and its VAPID token
(RFC 8292) is verified: ES256 signature against the key in `k`, `aud` equal to this
service's origin, `exp` in the future and within 24 h, `sub` a mailto: or https: URL.
Per subscriber it can answer any status, add Retry-After, redirect, or hang. It counts the
pushes in flight at once, and can hold every push until K are in flight together: proof of
concurrency that does not depend on timing.
"""
import base64
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self):
        """What PushSubscription.toJSON() gives in a browser."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}


@dataclass
class Push:
    subscriber: str
    headers: dict
    payload: dict | None = None
    claims: dict | None = None
    problems: list = field(default_factory=list)
    status: int = 0


def verify_vapid(authorization, origin, now=None):
    """Claims of a valid `vapid t=...,k=...` header; raises ValueError saying what is wrong."""
    now = now or time.time()
    match = re.fullmatch(r"vapid t=([\w.-]+),\s*k=([\w-]+)", authorization or "")
    if not match:
        raise ValueError("Authorization is not 'vapid t=..., k=...'")
    token, key = match.groups()
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(unb64url(header_b64))
    if header.get("alg") != "ES256":
        raise ValueError(f"alg is {header.get('alg')}, not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    raw = unb64url(signature_b64)
    if len(raw) != 64:
        raise ValueError("signature is not 64 bytes (r||s)")
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("signature does not verify with k") from None
    claims = json.loads(unb64url(claims_b64))
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    if not now < claims.get("exp", 0) <= now + 24 * 3600:
        raise ValueError("exp is not within the next 24 h")
    if not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+|https://\S+", claims.get("sub", "")):
        raise ValueError("sub is not a mailto: or https: URL")
    return claims, unb64url(key)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a sender opens many connections at once, like at a real service


class FakePushService:
    def __init__(self, expected_key=None):
        #: the application server key subscribers were created with (raw point), if known
        self.expected_key = expected_key
        self.subscribers = {}
        self.pushes = []
        self.behaviour = {}   # subscriber id -> list of (status, headers, hang seconds)
        self.lock = threading.Lock()
        self.in_flight = self.peak_in_flight = 0
        self._together = None
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                service._handle(self)

            def log_message(self, *args):
                pass

        self._handler = Handler
        self._listen(0)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _listen(self, port):
        self.server = _Server(("127.0.0.1", port), self._handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.up = True

    def close(self):
        if self.up:
            self.server.shutdown()
            self.server.server_close()
            self.up = False

    def go_down(self):
        """The service is gone: connections to it are refused until back_up()."""
        self.close()

    def back_up(self):
        self._listen(int(self.origin.rsplit(":", 1)[1]))

    def subscribe(self):
        sid = b64url(os.urandom(9))
        subscriber = Subscriber(sid, f"{self.origin}/push/{sid}",
                                ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
        self.subscribers[sid] = subscriber
        return subscriber

    def answer(self, subscriber, status=201, *, times=None, headers=None, hang=0.0):
        """How to answer this subscriber's next pushes (`times` of them, or all)."""
        with self.lock:
            self.behaviour[subscriber.id] = [(status, headers or {}, hang)] * (times or 10_000)

    def hold_until_together(self, k, seconds=10):
        """Answer no push until k of them are in flight at once (else answer 503)."""
        self._together = threading.Barrier(k, timeout=seconds)

    def received(self, subscriber=None):
        with self.lock:
            return [p for p in self.pushes if subscriber is None or p.subscriber == subscriber.id]

    def delivered(self, subscriber=None):
        """Payloads that arrived intact, were answered 201 and passed every check."""
        return [p.payload for p in self.received(subscriber) if p.status == 201 and not p.problems]

    def _handle(self, request):
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            status, extra = self._receive(request)
        finally:
            with self.lock:
                # Out before the answer leaves: the sender may start its next push at once.
                self.in_flight -= 1
        try:
            request.send_response(status)
            for name, value in extra.items():
                request.send_header(name, value)
            request.send_header("Content-Length", "0")
            request.end_headers()
        except OSError:
            pass  # the sender gave up waiting

    def _receive(self, request):
        sid = request.path.rsplit("/", 1)[-1]
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        push = Push(sid, {k.lower(): v for k, v in request.headers.items()})
        subscriber = self.subscribers.get(sid)
        status, extra, hang = 201, {}, 0.0
        with self.lock:
            queue = self.behaviour.get(sid)
            if queue:
                status, extra, hang = queue.pop(0)
        if subscriber is None:
            status = 404
        else:
            self._check(push, subscriber, body)
            if push.problems and status == 201:
                status = 400
        if self._together is not None:
            try:
                self._together.wait()
            except threading.BrokenBarrierError:
                push.problems.append("fewer pushes in flight at once than expected")
                status = 503
        push.status = status
        with self.lock:
            self.pushes.append(push)
        if hang:
            time.sleep(hang)
        return status, extra

    def _check(self, push, subscriber, body):
        h = push.headers
        if h.get("content-encoding") != "aes128gcm":
            push.problems.append(f"content-encoding {h.get('content-encoding')}")
        if h.get("content-type") != "application/octet-stream":
            push.problems.append(f"content-type {h.get('content-type')}")
        if not h.get("ttl", "").isdigit():
            push.problems.append("no TTL")
        try:
            push.claims, key = verify_vapid(h.get("authorization"), self.origin)
            if self.expected_key is not None and key != self.expected_key:
                push.problems.append("VAPID key is not the application server key")
        except (ValueError, KeyError) as error:
            push.problems.append(f"VAPID: {error}")
        try:
            plain = http_ece.decrypt(body, private_key=subscriber.private_key,
                                     auth_secret=subscriber.auth, version="aes128gcm")
            push.payload = json.loads(plain)
        except Exception as error:  # any failure to decrypt is a failed push
            push.problems.append(f"decrypt: {error!r}")
