"""Web push: the only importer of pywebpush. VAPID, endpoint checks, pushes -> Outcomes.

pywebpush encrypts (aes128gcm); the request is ours, sent with aiohttp, so one client
session carries many pushes at once and the VAPID header is signed once per push service.
"""
import asyncio
import base64
import contextvars
import enum
import functools
import ipaddress
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.resolver import ThreadedResolver
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

#: VAPID tokens live 12 h (Apple refuses more than 24 h) and are reused for 11 h
VAPID_LIFETIME = 12 * 3600
VAPID_REUSE = 11 * 3600
MAX_PAYLOAD = 3000  # bytes of JSON; aes128gcm adds 103 and services cap at 4096
#: a push service's answer is read up to this size; a longer one only costs its connection
MAX_ANSWER = 64 * 1024
SUB_RE = re.compile(r"^(mailto:[^@\s]+@[^@\s]+\.[^@\s]+|https://[^\s/]+\.[^\s]+)$")


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"              #: 404/410: the subscription is dead; delete it
    RETRY = "retry"            #: 5xx, timeout, network: try again later
    RATE_LIMITED = "rate_limited"  #: 429: wait Retry-After
    REJECTED = "rejected"      #: 400/401/403/413, redirects: our configuration, not theirs


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None  #: seconds
    reason: str = ""


@dataclass(frozen=True)
class Message:
    """One push to one phone. `subscription` is {"endpoint", "keys": {"p256dh", "auth"}}."""
    subscription: dict
    data: bytes  #: the JSON payload, see encode()
    ttl: int
    urgency: str = "normal"
    topic: str | None = None


class EndpointError(ValueError):
    pass


class PrivateAddress(OSError):
    """A push service host resolved to an address on our side of the network."""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(payload):
    return json.dumps(payload, separators=(",", ":")).encode()


def _origin(url):
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = parts.port if parts.port not in (None, default) else None
    host = (parts.hostname or "").lower()
    return parts.scheme, host, port


#: allowlist entries are few and checked for every push: parse each once
_entry_origin = functools.lru_cache(maxsize=256)(_origin)


def allowed_by(endpoint, allowlist):
    """The allowlist entry that admits this endpoint, or None."""
    try:
        return _entry_for(_origin(endpoint), allowlist)
    except ValueError:
        return None


def _entry_for(origin, allowlist):
    scheme, host, port = origin
    for entry in allowlist:
        e_scheme, e_host, e_port = _entry_origin(entry)
        if scheme != e_scheme or port != e_port:
            continue
        if e_host.startswith("*.") and host.endswith(e_host[1:]) and len(host) > len(e_host) - 1:
            return entry
        if host == e_host:
            return entry
    return None


def check_endpoint(endpoint, allowlist):
    """Refuse endpoints that are not https on an allowed push service (http only if listed)."""
    return _admit(endpoint, allowlist)[0]


def _admit(endpoint, allowlist):
    """check_endpoint, returning the admitting entry and the endpoint's origin."""
    if not isinstance(endpoint, str) or len(endpoint) > 1024:
        raise EndpointError("endpoint must be a URL of at most 1024 characters.")
    parts = urlsplit(endpoint)
    if parts.username or parts.password or parts.fragment:
        raise EndpointError("endpoint must be a plain push service URL.")
    try:
        origin = _origin(endpoint)
        entry = _entry_for(origin, allowlist)
    except ValueError:  # e.g. a port that is not a number
        entry = None
    if entry is None:
        raise EndpointError("endpoint is not on an allowed push service.")
    if parts.scheme != "https" and not entry.startswith("http://"):
        raise EndpointError("endpoint must use https.")
    return entry, origin


def _is_public(address):
    ip = ipaddress.ip_address(address)
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


def run(coroutine):
    """asyncio.run(coroutine), also when this thread already runs an event loop (a caller
    inside an async framework, Playwright's sync API in tests): then in a thread of its own,
    the caller waiting for it as before."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()  # the app context and its session go along
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-loop") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


class _PublicResolver(ThreadedResolver):
    """aiohttp's resolver, refusing hosts that resolve to private addresses.

    Checked where the connection is made, so a host cannot resolve one way for the check
    and another for the request. Hosts the allowlist names as `localhost` are exempt
    (development and tests); addresses the allowlist names are never resolved at all.
    """

    def __init__(self, private_ok):
        super().__init__()
        self.private_ok = private_ok

    async def resolve(self, host, port=0, family=socket.AF_INET):
        hosts = await super().resolve(host, port, family)
        if host.lower() not in self.private_ok and not all(_is_public(h["host"]) for h in hosts):
            raise PrivateAddress("the push service resolves to a private address.")
        return hosts


def check_keys(p256dh, auth):
    """p256dh: a 65-byte uncompressed P-256 point; auth: 16 bytes. Both base64url."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        point, secret = unb64url(p256dh), unb64url(auth)
    except (ValueError, TypeError):
        raise EndpointError("keys must be base64url.") from None
    if len(point) != 65 or point[0] != 4:
        raise EndpointError("keys.p256dh must be a 65-byte uncompressed P-256 point.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise EndpointError("keys.p256dh is not a point on P-256.") from None
    if len(secret) != 16:
        raise EndpointError("keys.auth must be 16 bytes.")


def load_vapid(path):
    """The VAPID key from its file. Never creates one: a new key breaks every subscription."""
    with open(path, "rb") as f:
        return Vapid02.from_pem(f.read())


def public_key(vapid):
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)


def check_subject(subject):
    if not isinstance(subject, str) or not SUB_RE.match(subject):
        raise ValueError(f"VAPID subject must be a mailto: or https: URL, not {subject!r}")
    return subject


class Sender:
    """Sends pushes; shared by every dispatcher thread of a process.

    It keeps only what outlives one run: the settings and the VAPID headers, signed once per
    push service and reused for VAPID_REUSE. Connections belong to a Courier (`connect()`),
    which lives inside one event loop.
    """

    def __init__(self, vapid, subject, allowlist, timeout=10.0, clock=time.time, concurrency=100):
        self.vapid = vapid
        self.subject = check_subject(subject)
        self.allowlist = tuple(allowlist)
        self.timeout = timeout
        self.clock = clock
        self.concurrency = max(1, int(concurrency))
        #: a host the allowlist names as localhost may resolve to loopback
        self.private_ok = frozenset(h for _, h, _ in map(_origin, self.allowlist)
                                    if h == "localhost")
        self._tokens = {}
        self._lock = threading.Lock()

    def authorization(self, origin):
        """The VAPID header for a push service (scheme, host, port), signed again when it ages."""
        scheme, host, port = origin
        audience = f"{scheme}://{host}" + (f":{port}" if port else "")
        with self._lock:
            now = self.clock()
            cached = self._tokens.get(audience)
            if cached and cached[0] > now:
                return cached[1]
            # A new claims dict each time: the library writes into the one it is given.
            claims = {"aud": audience, "exp": int(now) + VAPID_LIFETIME, "sub": self.subject}
            header = self.vapid.sign(claims)["Authorization"]
            self._tokens[audience] = (now + VAPID_REUSE, header)
            return header

    def connect(self):
        return Courier(self)

    def send(self, subscription, payload, *, ttl, urgency="normal", topic=None):
        """One push, on a connection of its own (tests, one-offs); dispatching uses connect()."""
        message = Message(subscription, encode(payload), ttl, urgency, topic)

        async def one():
            async with self.connect() as courier:
                return await courier.send(message)
        return run(one())


class Courier:
    """`async with sender.connect() as courier`: up to `concurrency` pushes in flight over
    one aiohttp session, each with its own timeout; one slow push service holds one slot."""

    def __init__(self, sender):
        self.sender = sender
        self._http = None
        self._slots = None
        self._resting = {}  #: endpoint -> loop time its Retry-After ends

    async def __aenter__(self):
        sender = self.sender
        self._slots = asyncio.Semaphore(sender.concurrency)
        # As many connections as slots, so a request never waits for one inside its timeout.
        connector = aiohttp.TCPConnector(
            limit=sender.concurrency, limit_per_host=sender.concurrency, ttl_dns_cache=60,
            resolver=_PublicResolver(sender.private_ok))
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=sender.timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # a push service's cookies are not kept
            trust_env=False)  # no proxy lookups per request
        return self

    async def __aexit__(self, *exc):
        await self._http.close()

    async def send(self, message):
        async with self._slots:
            return await self._post(message)

    async def _post(self, message):
        if len(message.data) > MAX_PAYLOAD:
            return Result(Outcome.REJECTED, reason="payload too large")
        endpoint = message.subscription["endpoint"]
        try:
            _, origin = _admit(endpoint, self.sender.allowlist)
        except EndpointError as error:
            return Result(Outcome.REJECTED, reason=str(error))
        loop = asyncio.get_running_loop()
        resting = self._resting.get(endpoint)
        if resting is not None and resting > loop.time():
            # This phone's push service asked us to wait: do not ask again in this run.
            return Result(Outcome.RATE_LIMITED, 429, resting - loop.time(), "HTTP 429")
        try:
            body = WebPusher(message.subscription).encode(message.data, "aes128gcm")["body"]
        except (WebPushException, ValueError, TypeError) as error:
            return Result(Outcome.REJECTED, reason=f"cannot encrypt: {error}"[:200])
        headers = {
            "Authorization": self.sender.authorization(origin),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(int(message.ttl), 1)),
            "Urgency": message.urgency,
        }
        if message.topic:
            headers["Topic"] = message.topic
        try:
            # A redirect is never followed (nor re-POSTed): it is answered as a refusal.
            async with self._http.post(endpoint, data=body, headers=headers,
                                       allow_redirects=False) as response:
                length = response.content_length
                if length is not None and length <= MAX_ANSWER:
                    await response.read()  # read, so that the connection can carry the next
                result = classify(response.status, response.headers.get("Retry-After"))
        except TimeoutError:
            return Result(Outcome.RETRY, reason="timeout")
        except aiohttp.ClientConnectorDNSError as error:
            if isinstance(error.os_error, PrivateAddress):
                return Result(Outcome.REJECTED, reason=str(error.os_error))
            return Result(Outcome.REJECTED,
                          reason=f"cannot resolve the push service: {error.strerror}")
        except (aiohttp.ClientError, OSError) as error:
            return Result(Outcome.RETRY, reason=type(error).__name__)
        if result.outcome is Outcome.RATE_LIMITED and result.retry_after:
            self._resting[endpoint] = loop.time() + result.retry_after
        return result


def classify(status, retry_after=None):
    if 200 <= status < 300:
        return Result(Outcome.SENT, status)
    if status in (404, 410):
        return Result(Outcome.GONE, status, reason=f"HTTP {status}")
    if status == 429:
        return Result(Outcome.RATE_LIMITED, status, _seconds(retry_after), f"HTTP {status}")
    if status >= 500:
        return Result(Outcome.RETRY, status, _seconds(retry_after), f"HTTP {status}")
    if 300 <= status < 400:
        return Result(Outcome.REJECTED, status, reason="the push service redirected")
    return Result(Outcome.REJECTED, status, reason=f"HTTP {status}")


def _seconds(retry_after):
    """Retry-After as seconds (a number or an HTTP date); None if absent or unreadable."""
    if not retry_after:
        return None
    if retry_after.strip().isdigit():
        return float(retry_after)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
