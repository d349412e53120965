"""Web push: the only importer of pywebpush. VAPID, endpoint checks, one send -> an Outcome."""
import base64
import enum
import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

#: VAPID tokens live 12 h (Apple refuses more than 24 h) and are reused for 11 h
VAPID_LIFETIME = 12 * 3600
VAPID_REUSE = 11 * 3600
MAX_PAYLOAD = 3000  # bytes of JSON; aes128gcm adds 103 and services cap at 4096
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


class EndpointError(ValueError):
    pass


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _origin(url):
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = parts.port if parts.port not in (None, default) else None
    host = (parts.hostname or "").lower()
    return parts.scheme, host, port


def allowed_by(endpoint, allowlist):
    """The allowlist entry that admits this endpoint, or None."""
    try:
        scheme, host, port = _origin(endpoint)
    except ValueError:
        return None
    for entry in allowlist:
        e_scheme, e_host, e_port = _origin(entry)
        if scheme != e_scheme or port != e_port:
            continue
        if e_host.startswith("*.") and host.endswith(e_host[1:]) and len(host) > len(e_host) - 1:
            return entry
        if host == e_host:
            return entry
    return None


def check_endpoint(endpoint, allowlist):
    """Refuse endpoints that are not https on an allowed push service (http only if listed)."""
    if not isinstance(endpoint, str) or len(endpoint) > 1024:
        raise EndpointError("endpoint must be a URL of at most 1024 characters.")
    parts = urlsplit(endpoint)
    if parts.username or parts.password or parts.fragment:
        raise EndpointError("endpoint must be a plain push service URL.")
    entry = allowed_by(endpoint, allowlist)
    if entry is None:
        raise EndpointError("endpoint is not on an allowed push service.")
    if parts.scheme != "https" and not entry.startswith("http://"):
        raise EndpointError("endpoint must use https.")
    return entry


def _is_public(address):
    ip = ipaddress.ip_address(address)
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


def check_resolution(endpoint, allowlist):
    """At send time: the host must still resolve to public addresses, unless the allowlist
    names that very host as an address or localhost (development and tests)."""
    entry = check_endpoint(endpoint, allowlist)
    _, entry_host, _ = _origin(entry)
    if entry_host in ("localhost",) or _is_ip(entry_host):
        return
    _, host, port = _origin(endpoint)
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except OSError as error:
        raise EndpointError(f"cannot resolve the push service: {error.strerror}") from None
    if not all(_is_public(info[4][0]) for info in infos):
        raise EndpointError("the push service resolves to a private address.")


def _is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


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
    """Sends payloads to push services with one reused HTTP session and cached VAPID tokens."""

    def __init__(self, vapid, subject, allowlist, timeout=10.0, clock=time.time):
        self.vapid = vapid
        self.subject = check_subject(subject)
        self.allowlist = tuple(allowlist)
        self.timeout = timeout
        self.clock = clock
        self.session = requests.Session()
        self.session.max_redirects = 0  # a redirect is never followed (nor re-POSTed)
        self.session.trust_env = False  # no proxy lookups per request
        self._tokens = {}

    def _authorization(self, endpoint):
        scheme, host, port = _origin(endpoint)
        audience = f"{scheme}://{host}" + (f":{port}" if port else "")
        now = self.clock()
        cached = self._tokens.get(audience)
        if cached and cached[0] > now:
            return cached[1]
        # A new claims dict each time: the library writes into the one it is given.
        claims = {"aud": audience, "exp": int(now) + VAPID_LIFETIME, "sub": self.subject}
        header = self.vapid.sign(claims)["Authorization"]
        self._tokens[audience] = (now + VAPID_REUSE, header)
        return header

    def send(self, subscription, payload, *, ttl, urgency="normal", topic=None):
        """One push. `subscription` is {"endpoint", "keys": {"p256dh", "auth"}}."""
        data = json.dumps(payload, separators=(",", ":")).encode()
        if len(data) > MAX_PAYLOAD:
            return Result(Outcome.REJECTED, reason="payload too large")
        endpoint = subscription["endpoint"]
        try:
            check_resolution(endpoint, self.allowlist)
        except EndpointError as error:
            return Result(Outcome.REJECTED, reason=str(error))
        headers = {
            "Authorization": self._authorization(endpoint),
            "Content-Type": "application/octet-stream",
            "Urgency": urgency,
        }
        if topic:
            headers["Topic"] = topic
        try:
            response = WebPusher(subscription, requests_session=self.session).send(
                data, headers=headers, ttl=max(int(ttl), 1), content_encoding="aes128gcm",
                timeout=self.timeout)
        except requests.TooManyRedirects:
            return Result(Outcome.REJECTED, reason="the push service redirected")
        except requests.Timeout:
            return Result(Outcome.RETRY, reason="timeout")
        except requests.RequestException as error:
            return Result(Outcome.RETRY, reason=type(error).__name__)
        except WebPushException as error:
            return Result(Outcome.REJECTED, reason=str(error)[:200])
        return classify(response.status_code, response.headers.get("Retry-After"))


def classify(status, retry_after=None):
    if 200 <= status < 300:
        return Result(Outcome.SENT, status)
    if status in (404, 410):
        return Result(Outcome.GONE, status, reason=f"HTTP {status}")
    if status == 429:
        return Result(Outcome.RATE_LIMITED, status, _seconds(retry_after), f"HTTP {status}")
    if status >= 500:
        return Result(Outcome.RETRY, status, _seconds(retry_after), f"HTTP {status}")
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
