"""A fast push service fake for the benchmarks, in a process of its own.

aiohttp on 127.0.0.1; every push answered 201 after `--latency-ms` (asyncio.sleep, so any
number wait at once). It checks every push's headers and VAPID token (the test suite's
verify_vapid, once per distinct token: a token is the same string for hours), decrypts one
subscriber in `--decrypt-every` (aes128gcm with the subscriber's private key), and counts
deliveries per (subscriber, Topic) so the benchmark can check that each went out once.

Subscriber i's keys derive from the seed (keys.py), so the benchmark and this process agree
on them without exchanging 10,000 private keys. GET /stats answers the counts as JSON.
"""
import argparse
import asyncio
import json
import socket
import sys
from collections import Counter, defaultdict
from pathlib import Path

import http_ece
from aiohttp import web

sys.path[:0] = [str(Path(__file__).resolve().parent),
                str(Path(__file__).resolve().parent.parent / "tests")]
import keys  # noqa: E402
from pushservice import verify_vapid  # noqa: E402


class Fake:
    def __init__(self, origin, seed, latency, decrypt_every):
        self.origin, self.seed = origin, seed
        self.latency, self.decrypt_every = latency, decrypt_every
        self.counts = defaultdict(Counter)  #: topic -> subscriber -> deliveries
        self.tokens = {}  #: Authorization header -> None if valid, else what is wrong
        self.problems, self.samples = 0, []
        self.received = self.decrypted = self.in_flight = self.peak_in_flight = 0

    def problem(self, text):
        self.problems += 1
        if len(self.samples) < 10:
            self.samples.append(text)

    async def push(self, request):
        self.received += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            sid = int(request.match_info["sid"])
            body = await request.read()
            h = request.headers
            topic = h.get("Topic", "")
            if h.get("Content-Encoding") != "aes128gcm" or not h.get("TTL", "").isdigit():
                self.problem(f"{sid}: headers {dict(h)}")
            if h.get("Content-Type") != "application/octet-stream":
                self.problem(f"{sid}: content-type {h.get('Content-Type')}")
            authorization = h.get("Authorization", "")
            if authorization not in self.tokens:
                try:
                    verify_vapid(authorization, self.origin)
                    self.tokens[authorization] = None
                except (ValueError, KeyError) as error:
                    self.tokens[authorization] = str(error)
            if self.tokens[authorization]:
                self.problem(f"{sid}: VAPID {self.tokens[authorization]}")
            if sid % self.decrypt_every == 0:
                self.check_payload(sid, topic, body)
            self.counts[topic][sid] += 1
            if self.latency:
                await asyncio.sleep(self.latency)
            return web.Response(status=201)
        finally:
            self.in_flight -= 1

    def check_payload(self, sid, topic, body):
        private, auth = keys.subscriber(self.seed, sid)
        try:
            payload = json.loads(http_ece.decrypt(body, private_key=private, auth_secret=auth,
                                                  version="aes128gcm"))
        except Exception as error:  # anything that does not decrypt is a failed push
            self.problem(f"{sid}: decrypt {error!r}")
            return
        self.decrypted += 1
        if set(payload) != {"title", "body", "url", "tag"} or payload["tag"] != topic:
            self.problem(f"{sid}: payload {payload}")
        if keys.client_name(sid) in json.dumps(payload):
            self.problem(f"{sid}: the client's name is in the payload")

    async def stats(self, request):
        return web.json_response({
            "received": self.received, "decrypted": self.decrypted,
            "problems": self.problems, "problem_samples": self.samples,
            "vapid_tokens": len(self.tokens), "peak_in_flight": self.peak_in_flight,
            "topics": {topic: {"messages": sum(c.values()), "subscribers": len(c),
                               "duplicates": sum(n - 1 for n in c.values() if n > 1)}
                       for topic, c in self.counts.items()},
        })


async def serve(args):
    fake = None

    async def push(request):
        return await fake.push(request)

    async def stats(request):
        return await fake.stats(request)

    app = web.Application()
    app.router.add_post("/push/{sid}", push)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    # Hundreds of connections arrive at once: a short backlog drops some, for 1 s each.
    await web.SockSite(runner, sock, backlog=4096).start()
    port = sock.getsockname()[1]
    fake = Fake(f"http://127.0.0.1:{port}", args.seed, args.latency_ms / 1000,
                args.decrypt_every)
    print(f"ready {port}", flush=True)
    await asyncio.Event().wait()  # until the benchmark terminates this process


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--decrypt-every", type=int, default=10)
    try:
        asyncio.run(serve(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
