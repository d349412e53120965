"""Fan-out: many pushes in flight at once, fed by claims, their outcomes written in bulk.

`pump` stays synchronous for its caller (the scheduler job, `flask scheduler`, tests): it
runs one event loop for one run, in the caller's thread. The caller's database work, `feed`
(claim and load a batch) and `record` (write a flush of outcomes), runs in that thread
between awaits: a few statements a batch, while the pushes already sent wait on the network.
Memory stays bounded: a new batch is claimed only when fewer than `refill_below` of the
claimed reminders are still on their way.
"""
import asyncio
import logging
from dataclasses import dataclass, field

from . import push
from .push import Outcome, Result

log = logging.getLogger(__name__)

#: outcomes are written once this many are ready, or this long after the first of them
FLUSH_SIZE = 500
FLUSH_SECONDS = 0.05


@dataclass
class Delivery:
    """The pushes of one claimed row; `results` holds one Result per message once done."""
    ref: object  #: the caller's, handed back to `record`
    messages: list
    results: list = field(default_factory=list)


def pump(sender, feed, record, refill_below):
    """Send until `feed` runs dry; returns how many deliveries were recorded.

    feed() -> (deliveries, more): the next batch, and whether to ask again.
    record(deliveries): writes their outcomes. An error in either stops the feeding; what is
    in flight is still finished and recorded, then the error is raised.
    """
    return push.run(_pump(sender, feed, record, refill_below))


async def _pump(sender, feed, record, refill_below):
    finished = asyncio.Queue()
    tasks = set()  # asyncio keeps only weak references to running tasks
    #: fed and not yet taken back from `finished`; counted here, not from the tasks, whose
    #: done-callbacks run only after the loop's next turn
    in_hand = 0
    recorded, more, error = 0, True, None
    async with sender.connect() as courier:
        while True:
            if more and in_hand < refill_below:
                try:
                    deliveries, more = feed()
                except Exception as exc:
                    deliveries, more, error = [], False, error or exc
                for delivery in deliveries:
                    task = asyncio.create_task(_deliver(courier, delivery, finished))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                in_hand += len(deliveries)
                if deliveries:
                    continue
            if not in_hand:
                break
            done = [await finished.get()]
            answered = 1 + finished.qsize()
            if answered < in_hand and answered < FLUSH_SIZE:
                await asyncio.sleep(FLUSH_SECONDS)  # let more outcomes join this write
            while not finished.empty() and len(done) < FLUSH_SIZE:
                done.append(finished.get_nowait())
            in_hand -= len(done)
            try:
                record(done)
                recorded += len(done)
            except Exception as exc:
                more, error = False, error or exc
    if error is not None:
        raise error
    return recorded


async def _deliver(courier, delivery, finished):
    if len(delivery.messages) == 1:
        delivery.results = [await _send(courier, delivery.messages[0])]
    elif delivery.messages:  # a client's phones are sent to side by side
        delivery.results = list(await asyncio.gather(
            *(_send(courier, message) for message in delivery.messages)))
    finished.put_nowait(delivery)


async def _send(courier, message):
    try:
        return await courier.send(message)
    except Exception:  # a bug with one push must never stop the others
        log.exception("a push failed")
        return Result(Outcome.RETRY, reason="internal error")
