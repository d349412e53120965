"""The push sender against a push service that decrypts and verifies (tests/pushservice.py)."""
import asyncio
import socket
import time

import pytest

from companion import push


@pytest.fixture
def sender(app, push_service):
    vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
    push_service.expected_key = push.unb64url(push.public_key(vapid))
    return push.Sender(vapid, "mailto:ops@clinic.example", [push_service.origin], timeout=1)


PAYLOAD = {"title": "Day 1: this morning's care", "body": "Mineral sunscreen.",
           "url": "/s/x#day-1", "tag": "morning-1"}


def test_a_push_arrives_encrypted_signed_and_intact(sender, push_service):
    phone = push_service.subscribe()
    result = sender.send(phone.subscription(), PAYLOAD, ttl=3600, urgency="high", topic="morning-1")
    assert result.outcome is push.Outcome.SENT
    [received] = push_service.received(phone)
    assert received.problems == []
    assert received.payload == PAYLOAD
    assert received.claims["aud"] == push_service.origin
    assert received.claims["sub"] == "mailto:ops@clinic.example"
    assert received.headers["ttl"] == "3600"
    assert received.headers["urgency"] == "high"
    assert received.headers["topic"] == "morning-1"


def test_vapid_token_is_reused_per_push_service(sender, push_service):
    a, b = push_service.subscribe(), push_service.subscribe()
    sender.send(a.subscription(), PAYLOAD, ttl=60)
    sender.send(b.subscription(), PAYLOAD, ttl=60)
    tokens = {p.headers["authorization"] for p in push_service.received()}
    assert len(tokens) == 1
    assert push_service.delivered() == [PAYLOAD, PAYLOAD]


def test_a_new_token_once_the_old_one_ages(app, push_service):
    now = [1_000_000.0]
    vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
    sender = push.Sender(vapid, "mailto:ops@clinic.example", [push_service.origin],
                         timeout=1, clock=lambda: now[0])
    phone = push_service.subscribe()
    sender.send(phone.subscription(), PAYLOAD, ttl=60)
    now[0] += push.VAPID_REUSE + 1
    sender.send(phone.subscription(), PAYLOAD, ttl=60)
    first, second = (p.headers["authorization"] for p in push_service.received())
    assert first != second


@pytest.mark.parametrize("status, headers, outcome, retry_after", [
    (404, {}, push.Outcome.GONE, None),
    (410, {}, push.Outcome.GONE, None),
    (413, {}, push.Outcome.REJECTED, None),
    (400, {}, push.Outcome.REJECTED, None),
    (401, {}, push.Outcome.REJECTED, None),
    (403, {}, push.Outcome.REJECTED, None),
    (429, {"Retry-After": "120"}, push.Outcome.RATE_LIMITED, 120.0),
    (500, {}, push.Outcome.RETRY, None),
    (503, {"Retry-After": "30"}, push.Outcome.RETRY, 30.0),
])
def test_every_answer_of_the_push_service_is_understood(sender, push_service, status, headers,
                                                       outcome, retry_after):
    phone = push_service.subscribe()
    push_service.answer(phone, status, headers=headers)
    result = sender.send(phone.subscription(), PAYLOAD, ttl=60)
    assert (result.outcome, result.status, result.retry_after) == (outcome, status, retry_after)


def test_a_hanging_push_service_times_out(sender, push_service):
    phone = push_service.subscribe()
    push_service.answer(phone, 201, hang=3)
    result = sender.send(phone.subscription(), PAYLOAD, ttl=60)
    assert result.outcome is push.Outcome.RETRY and result.reason == "timeout"


def test_redirects_are_never_followed(sender, push_service):
    phone, elsewhere = push_service.subscribe(), push_service.subscribe()
    push_service.answer(phone, 307, headers={"Location": elsewhere.endpoint})
    result = sender.send(phone.subscription(), PAYLOAD, ttl=60)
    assert result.outcome is push.Outcome.REJECTED
    assert push_service.received(elsewhere) == []


def test_payloads_too_large_are_not_sent(sender, push_service):
    phone = push_service.subscribe()
    result = sender.send(phone.subscription(), {"body": "x" * 5000}, ttl=60)
    assert result.outcome is push.Outcome.REJECTED
    assert push_service.received() == []


def test_endpoints_off_the_allowlist_are_not_contacted(sender, push_service):
    phone = push_service.subscribe()
    info = phone.subscription()
    info["endpoint"] = info["endpoint"].replace("127.0.0.1", "localhost")
    assert sender.send(info, PAYLOAD, ttl=60).outcome is push.Outcome.REJECTED
    assert push_service.received() == []


ALLOW = ["https://fcm.googleapis.com", "https://*.push.apple.com", "http://127.0.0.1:8090"]


@pytest.mark.parametrize("endpoint, ok", [
    ("https://fcm.googleapis.com/fcm/send/abc", True),
    ("https://web.push.apple.com/QO3a", True),
    ("https://api.push.apple.com/x", True),
    ("https://push.apple.com.evil.example/x", False),
    ("https://evilpush.apple.com/x", False),
    ("http://fcm.googleapis.com/fcm/send/abc", False),
    ("https://fcm.googleapis.com:8443/x", False),
    ("https://user:pw@fcm.googleapis.com/x", False),
    ("http://127.0.0.1:8090/notify/x", True),
    ("http://127.0.0.1:8091/notify/x", False),
    ("http://169.254.169.254/latest", False),
    ("file:///etc/passwd", False),
    ("not a url", False),
    ("https://fcm.googleapis.com/" + "x" * 1100, False),
])
def test_endpoint_allowlist(endpoint, ok):
    if ok:
        push.check_endpoint(endpoint, ALLOW)
    else:
        with pytest.raises(push.EndpointError):
            push.check_endpoint(endpoint, ALLOW)


def test_keys_are_validated(push_service):
    good = push_service.subscribe().subscription()["keys"]
    push.check_keys(good["p256dh"], good["auth"])
    for p256dh, auth in [(good["p256dh"][:-4], good["auth"]),
                         (good["p256dh"], good["auth"] + "AAAA"),
                         (good["p256dh"][:20] + ("A" if good["p256dh"][20] != "A" else "B")
                          + good["p256dh"][21:], good["auth"]),  # off the curve
                         ("!!!", good["auth"])]:
        with pytest.raises(push.EndpointError):
            push.check_keys(p256dh, auth)


@pytest.mark.parametrize("subject", ["admin@example.com", "mailto:", "http://example.com", ""])
def test_vapid_subject_must_be_mailto_or_https(app, subject):
    with pytest.raises(ValueError):
        push.Sender(push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]), subject, [])


def test_loading_a_missing_key_never_creates_one(tmp_path):
    with pytest.raises(FileNotFoundError):
        push.load_vapid(tmp_path / "missing.pem")
    assert not (tmp_path / "missing.pem").exists()


def send_all(sender, messages):
    """Send every message through one courier, all at once, as the dispatcher does."""
    async def run():
        async with sender.connect() as courier:
            return await asyncio.gather(*(courier.send(m) for m in messages))
    return push.run(run())  # (a browser test before may leave an event loop running here)


def message(phone, topic="morning-1"):
    return push.Message(phone.subscription(), push.encode(PAYLOAD), ttl=60, topic=topic)


def test_pushes_overlap_up_to_the_concurrency_and_no_further(app, push_service):
    vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
    sender = push.Sender(vapid, "mailto:ops@clinic.example", [push_service.origin],
                         timeout=15, concurrency=8)
    push_service.hold_until_together(8)  # no answer until eight pushes are in at once
    phones = [push_service.subscribe() for _ in range(24)]
    results = send_all(sender, [message(p) for p in phones])
    assert [r.outcome for r in results] == [push.Outcome.SENT] * 24
    assert push_service.peak_in_flight == 8
    assert [push_service.delivered(p) for p in phones] == [[PAYLOAD]] * 24


def test_one_vapid_signature_per_push_service_however_many_pushes(app, push_service):
    from pushservice import FakePushService

    other = FakePushService()
    try:
        vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
        sender = push.Sender(vapid, "mailto:ops@clinic.example",
                             [push_service.origin, other.origin], timeout=5)
        phones = [service.subscribe() for service in (push_service, other) for _ in range(10)]
        results = send_all(sender, [message(p) for p in phones])
        assert {r.outcome for r in results} == {push.Outcome.SENT}
        for service in (push_service, other):
            # ES256 signatures are randomised: one header for ten pushes is one signature.
            assert len({p.headers["authorization"] for p in service.received()}) == 1
            assert len(service.delivered()) == 10
            assert service.received()[0].claims["aud"] == service.origin
        assert (push_service.received()[0].headers["authorization"]
                != other.received()[0].headers["authorization"])
    finally:
        other.close()


def test_the_token_is_signed_again_only_when_it_nears_expiry(app, push_service):
    now = [time.time()]
    vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
    sender = push.Sender(vapid, "mailto:ops@clinic.example", [push_service.origin],
                         timeout=5, clock=lambda: now[0])
    phone = push_service.subscribe()
    sender.send(phone.subscription(), PAYLOAD, ttl=60)
    now[0] += push.VAPID_REUSE - 1
    sender.send(phone.subscription(), PAYLOAD, ttl=60)
    now[0] += 2
    sender.send(phone.subscription(), PAYLOAD, ttl=60)
    first, second, third = push_service.received()
    assert first.headers["authorization"] == second.headers["authorization"]
    assert third.headers["authorization"] != first.headers["authorization"]
    assert third.claims["exp"] == int(now[0]) + push.VAPID_LIFETIME
    assert push_service.delivered() == [PAYLOAD] * 3, "every token verified, within 24 h"


def test_a_push_service_name_that_resolves_to_our_network_is_refused(app, push_service):
    host = socket.gethostname()  # a name, not an address or `localhost`: /etc/hosts has it
    try:
        public = any(push._is_public(info[4][0]) for info in socket.getaddrinfo(host, 80))
    except OSError:
        public = True
    if public:
        pytest.skip(f"this machine's name {host} does not resolve to a private address")
    port = push_service.origin.rsplit(":", 1)[1]
    allowed = f"http://{host}:{port}"
    vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
    sender = push.Sender(vapid, "mailto:ops@clinic.example", [allowed], timeout=5)
    info = push_service.subscribe().subscription()
    info["endpoint"] = info["endpoint"].replace(push_service.origin, allowed)
    result = sender.send(info, PAYLOAD, ttl=60)
    assert result.outcome is push.Outcome.REJECTED
    assert "private address" in result.reason
    assert push_service.received() == []
