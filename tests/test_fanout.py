"""The fan-out pump against the push service fake: work in hand stays bounded; a failed
write stops the claiming but never abandons the pushes already on their way."""
import threading

import pytest

from companion import fanout, push


@pytest.fixture
def sender(app, push_service):
    vapid = push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"])
    return push.Sender(vapid, "mailto:ops@clinic.example", [push_service.origin], timeout=5,
                       concurrency=4)


def delivery(phone):
    payload = push.encode({"title": "T", "body": "B", "url": "/s/x#day-1", "tag": "morning-1"})
    return fanout.Delivery(phone.id, [push.Message(phone.subscription(), payload, ttl=60)])


def test_a_new_batch_is_taken_only_when_the_last_one_runs_low(sender, push_service):
    batches = [[push_service.subscribe() for _ in range(8)] for _ in range(5)]
    fed, recorded, in_hand = [], [], []

    def feed():
        batch = batches.pop(0)
        in_hand.append(len(fed) - len(recorded) + len(batch))
        fed.extend(batch)
        return [delivery(phone) for phone in batch], bool(batches)

    def record(done):
        assert {d.results[0].outcome for d in done} == {push.Outcome.SENT}
        recorded.extend(d.ref for d in done)

    assert fanout.pump(sender, feed, record, refill_below=3) == 40
    assert sorted(recorded) == sorted(phone.id for phone in fed)
    assert max(in_hand) <= 8 + 2, "a batch, plus fewer than refill_below still on their way"
    assert len(push_service.delivered()) == 40


def test_a_failed_write_stops_claims_and_is_raised_once_in_flight_pushes_end(sender, push_service):
    phones = [push_service.subscribe() for _ in range(6)]
    feeds = []

    def feed():
        feeds.append(1)
        return [delivery(phone) for phone in phones], True  # there would always be more

    def record(done):
        raise RuntimeError("the database is down")

    with pytest.raises(RuntimeError, match="database is down"):
        fanout.pump(sender, feed, record, refill_below=3)
    assert feeds == [1]
    assert len(push_service.delivered()) == 6


def test_the_last_answers_arriving_together_end_the_run(sender, push_service, monkeypatch):
    """Regression: when the last pushes were answered in one go and written at once, the
    run waited for answers that had already come."""
    monkeypatch.setattr(fanout, "FLUSH_SIZE", 1)  # write each outcome as soon as it is in
    phones = [push_service.subscribe() for _ in range(6)]
    recorded = []
    runner = threading.Thread(target=lambda: recorded.append(fanout.pump(
        sender, lambda: ([delivery(phone) for phone in phones], False),
        lambda done: None, refill_below=3)), daemon=True)
    runner.start()
    runner.join(30)  # not a timing assertion: a run that never ends is the failure
    assert recorded == [6]
