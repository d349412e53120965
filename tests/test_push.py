"""The push sender against a push service that decrypts and verifies (tests/pushservice.py)."""
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
