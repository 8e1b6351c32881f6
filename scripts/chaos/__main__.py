"""``make chaos``: the real processes against a private PostgreSQL and a private Redis (append-only), fed
callbacks of every provider while faults strike; then the database is compared with a model of what was
acknowledged.

python -m scripts.chaos [--callbacks 100000] [--rate 700]

Faults, while the callbacks flow: a worker SIGKILLed every few seconds (and started again), Redis SIGKILLed
and restarted, PostgreSQL crashed (SIGKILL) and restarted, beat stopped for good, Redis filled to its
maxmemory, two bulk replays of the dead letters at once, Redis taken away long enough for the spool.
"""

from __future__ import annotations

import argparse
import random
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from scripts.bench import data
from shared.db.migrate import upgrade
from shared.ops.dev.embedded import Server, start_postgres
from shared.ops.service import OperatorService
from shared.providers import all_providers, demo_environment
from shared.providers._standin import NOWHERE
from shared.settings import Settings
from tests.support.net import free_port
from tests.support.processes import Stack
from tests.support.redis_server import PrivateRedis

PREFIX = "payhook-chaos"


@dataclass
class Sent:
    provider: str
    body: bytes
    kind: str  # "valid", "garbage" or "forged"
    status: int = 0
    answered_at: float = 0.0
    spooled: bool = False


@dataclass
class Faults:
    log: list[tuple[str, float, float]] = field(default_factory=list)

    def record(self, name: str, started: float) -> None:
        self.log.append((name, started, time.time()))
        print(f"chaos: {name} done ({time.time() - started:.1f} s)", flush=True)


def build_traffic(total: int, seed: int = 11) -> list[Sent]:
    """Callbacks like the samples (with duplicates, shuffled), 1 % authenticated garbage (from a sender
    whose key is not tied to the body, which can send anything), 1 % forged."""
    rng = random.Random(seed)
    out: list[Sent] = []
    for provider, body, _ in data.callbacks(total, seed=seed):
        roll = rng.random()
        if roll < 0.01 and not all_providers()[provider].signature_covers:
            out.append(Sent(provider, b"{not json " + body[:40], "garbage"))
        elif roll < 0.02:
            out.append(Sent(provider, body, "forged"))
        else:
            out.append(Sent(provider, body, "valid"))
    return out


def send_all(url: str, traffic: list[Sent], folder: Path, rate: float, stop: threading.Event) -> None:
    signers = {name: p.test_signer(folder) for name, p in all_providers().items()}
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=15) as http:
        for i, item in enumerate(traffic):
            if stop.is_set():
                return
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body, headers = signers[item.provider].sign(item.body)
            if item.kind == "forged":
                headers = {
                    k: v[:-2] + "xx" if k.lower() in {"x-api-key", "x-signature"} else v for k, v in headers.items()
                }
                body = body.replace(b'"signature_key": "', b'"signature_key": "00', 1)
            for _ in range(3):  # what a provider does with a 503 or a dropped connection: send again
                try:
                    answer = http.post(f"/callbacks/{item.provider}", content=body, headers=headers)
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                item.status, item.answered_at = answer.status_code, time.time()
                item.spooled = answer.status_code == 200 and answer.json().get("status") == "spooled"
                if answer.status_code != 503:
                    break
                time.sleep(0.5)


class Chaos:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pg_port = free_port()
        self.pg_password = secrets.token_urlsafe(18)
        self.postgres: Server = start_postgres(folder, self.pg_port, self.pg_password)
        self.redis = PrivateRedis(folder / "redis", maxmemory="64mb").start()
        self.env = {
            "PAYHOOK_DATABASE_URL": f"postgresql+psycopg://postgres:{self.pg_password}@127.0.0.1:{self.pg_port}/payhook",
            "PAYHOOK_REDIS_URL": self.redis.url,
            "PAYHOOK_QUEUE_PREFIX": PREFIX,
            "PAYHOOK_CLAIM_TIMEOUT_SECONDS": "10",
            "PAYHOOK_WORKER_CONCURRENCY": "2",
            "PAYHOOK_LOG_LEVEL": "WARNING",
            **demo_environment(folder / "keys"),
            # Never a provider's real API: Midtrans's status client points where nothing listens.
            "PAYHOOK_MIDTRANS_API_URL": NOWHERE,
            "PAYHOOK_MIDTRANS_VERIFY": "off",
        }
        upgrade(Settings.from_env(self.env))
        self.stack = Stack(self.env, free_port(), folder)
        self.stack.web()
        self.workers = [self.stack.worker(2), self.stack.worker(2)]
        self.beat = self.stack.beat()
        self.faults = Faults()

    def kill_a_worker(self) -> None:
        started = time.time()
        index = random.randrange(len(self.workers))
        Stack.kill(self.workers[index])
        self.workers[index] = self.stack.worker(2)
        self.faults.record("worker SIGKILL", started)

    def kill_redis(self, down: float) -> None:
        started = time.time()
        self.redis.stop(signal.SIGKILL)
        time.sleep(down)
        self.redis.start()
        self.faults.record(f"Redis SIGKILL, {down:g} s down", started)

    def crash_postgres(self, down: float) -> None:
        started = time.time()
        assert self.postgres.process is not None
        self.postgres.process.kill()
        self.postgres.process.wait(10)
        time.sleep(down)
        self.postgres = start_postgres(self.folder, self.pg_port, self.pg_password)
        self.faults.record(f"PostgreSQL crash, {down:g} s down", started)

    def stop_beat(self) -> None:
        started = time.time()
        Stack.kill(self.beat, signal.SIGTERM)
        self.faults.record("beat stopped for good", started)

    def fill_redis(self, hold: float) -> None:
        started = time.time()
        with self.redis.client() as client:
            filler = 0
            try:
                while True:
                    client.set(f"chaos-filler:{filler}", b"x" * 65536)
                    filler += 1
            except Exception:
                pass
            time.sleep(hold)
            for key in client.scan_iter("chaos-filler:*"):
                client.delete(key)
        self.faults.record(f"Redis at maxmemory for {hold:g} s", started)

    def replay_twice_at_once(self) -> None:
        started = time.time()
        settings = Settings.from_env(self.env)
        from shared.db.dead_letters import Filters  # noqa: PLC0415

        def replay() -> None:
            ops = OperatorService(settings)
            try:
                ops.replay(ops.matching(Filters()), actor="chaos")
            finally:
                ops.close()

        threads = [threading.Thread(target=replay) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.faults.record("two bulk replays at once", started)

    def redis_away(self, down: float) -> None:
        started = time.time()
        self.redis.stop()
        time.sleep(down)
        self.redis.start()
        self.faults.record(f"Redis away {down:g} s (spool)", started)

    def stop(self) -> None:
        self.stack.stop()
        self.redis.stop()
        self.postgres.stop()


def schedule(chaos: Chaos, stop: threading.Event) -> None:
    plan: list[tuple[float, Callable[[], None]]] = [
        (10, lambda: chaos.kill_redis(2)),
        (25, lambda: chaos.crash_postgres(5)),
        (40, chaos.stop_beat),
        (50, lambda: chaos.fill_redis(5)),
        (65, chaos.replay_twice_at_once),
        (75, lambda: chaos.redis_away(8)),
    ]
    started = time.monotonic()
    next_kill = 5.0
    while not stop.is_set() and (plan or time.monotonic() - started < 100):
        now = time.monotonic() - started
        if plan and now >= plan[0][0]:
            plan.pop(0)[1]()
        elif now >= next_kill:
            chaos.kill_a_worker()
            next_kill = now + 7
        time.sleep(0.2)


def settle(chaos: Chaos, traffic: list[Sent], timeout: float = 300) -> None:
    """Wait until nothing is queued, in flight or spooled."""
    settings = Settings.from_env(chaos.env)
    ops = OperatorService(settings)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                stats, spooled = ops.queue(), ops.spooled()
            except Exception:
                time.sleep(1)
                continue
            if stats is not None and stats.queued == 0 and stats.in_flight == 0 and spooled == 0:
                return
            time.sleep(1)
    finally:
        ops.close()


def report(chaos: Chaos, traffic: list[Sent]) -> None:
    engine = create_engine(chaos.env["PAYHOOK_DATABASE_URL"])
    providers = all_providers()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT provider, event_key, count(*) FILTER (WHERE outcome <> 'duplicate') AS firsts, "
                "min(extract(epoch FROM processed_at)) AS first_processed FROM payment_events "
                "GROUP BY provider, event_key"
            )
        ).all()
        dead = int(conn.execute(text("SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL")).scalar_one())
    engine.dispose()
    in_db = {(r.provider, r.event_key): (int(r.firsts), float(r.first_processed)) for r in rows}
    acknowledged = [s for s in traffic if s.status == 200]
    first_ack: dict[tuple[str, str], float] = {}
    for item in acknowledged:
        if item.kind != "valid":
            continue
        event = providers[item.provider].normalize(item.body)
        if event is not None:
            key = (item.provider, event.event_key)
            first_ack[key] = min(first_ack.get(key, item.answered_at), item.answered_at)
    lost = [k for k in first_ack if k not in in_db]
    twice = [k for k, (firsts, _) in in_db.items() if firsts > 1]
    forged_in = [s for s in traffic if s.kind == "forged" and s.status == 200]
    waits = [in_db[k][1] - t for k, t in first_ack.items() if k in in_db]
    print()
    print(f"payhook chaos, {time.strftime('%Y-%m-%d %H:%M')}, {len(traffic):,} callbacks")
    print()
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| sent | {len(traffic):,} |")
    print(f"| acknowledged (200) | {len(acknowledged):,} (spooled {sum(s.spooled for s in acknowledged):,}) |")
    unauthorized, unavailable = sum(s.status == 401 for s in traffic), sum(s.status == 503 for s in traffic)
    print(f"| refused: 401 (forged), 503 | {unauthorized:,}, {unavailable:,} |")
    print(f"| distinct events acknowledged / applied | {len(first_ack):,} / {len(first_ack) - len(lost):,} |")
    print(f"| lost | {len(lost)} |")
    print(f"| applied twice | {len(twice)} |")
    print(f"| forged accepted | {len(forged_in)} |")
    print(f"| dead letters waiting | {dead:,} |")
    print(f"| longest wait, 200 to committed | {max(waits, default=0):.1f} s |")
    for name, started, ended in chaos.faults.log:
        during = [in_db[k][1] - ended for k, t in first_ack.items() if k in in_db and started - 1 <= t <= ended]
        print(f"| recovery after: {name} | {max(during, default=0.0):.1f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.chaos")
    parser.add_argument("--callbacks", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=700.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="payhook-chaos-"))
    print(f"chaos: private PostgreSQL and Redis, logs in {folder}", flush=True)
    traffic = build_traffic(args.callbacks)
    chaos = Chaos(folder)
    stop = threading.Event()
    try:
        sender = threading.Thread(target=send_all, args=(chaos.stack.url, traffic, folder / "keys", args.rate, stop))
        sender.start()
        schedule(chaos, stop)
        sender.join()
        settle(chaos, traffic)
        report(chaos, traffic)
    finally:
        stop.set()
        chaos.stop()


if __name__ == "__main__":
    main()
