"""``make chaos``, reconciliation: the real processes (web, two workers, beat) against a private PostgreSQL and
Redis and the providers' stand-in (a process of its own), while callbacks are lost, Midtrans bodies are
tampered with and the providers' APIs fail; then every payment is compared with the stand-in's truth.

python -m scripts.chaos.reconcile [--payments 1500] [--rate 50]

The merchant expects every payment it creates (``payments expect``), as payhook's docs ask. Each then reaches
its final status at the stand-in (or stays open), whose callback is sent by the stand-in, signed as the
provider signs it; meanwhile:

- a share of the callbacks is dropped before payhook (Revenue Monster notifies successes only: its failures
  are never sent at all);
- some Midtrans callbacks arrive tampered: the status changed, the signature the original's (Midtrans signs
  the status code, not the status, and one code covers several statuses: payhook asks Get Status before
  believing one, ``PAYHOOK_MIDTRANS_VERIFY``; ``--midtrans-verify off`` shows them end wrong);
- every provider's API answers 5xx for a while, then too slowly (past the time limit), then recovers.

Printed: the counts (lost, wrong: both must be 0), the time to converge after the last fault, load averages.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from scripts.bench import standin
from shared.db.migrate import upgrade
from shared.ops.dev.embedded import Server, start_postgres
from shared.ops.service import OperatorService
from shared.providers import demo_environment
from shared.providers._standin import client_settings
from shared.settings import Settings
from tests.support.net import free_port
from tests.support.processes import Stack
from tests.support.redis_server import PrivateRedis

OPEN = frozenset({"pending", "processing"})
# Each provider's outcomes at the stand-in, with payhook's canonical status: the stand-in's status field and
# value, drawn in turn (the last is a payment still open at the end).
OUTCOMES: dict[str, list[tuple[str, str]]] = {
    "pivot": [("PAID", "paid"), ("PAID", "paid"), ("CANCELLED", "cancelled"), ("EXPIRED", "expired"),
              ("PROCESSING", "open")],
    "revenue-monster": [("SUCCESS", "paid"), ("SUCCESS", "paid"), ("FAILED", "failed"), ("IN_PROCESS", "open")],
    "midtrans": [("settlement", "paid"), ("settlement", "paid"), ("expire", "expired"), ("cancel", "cancelled"),
                 ("deny", "failed"), ("pending", "open")],
}  # fmt: skip
_STATUS_FIELD = {"pivot": "status", "revenue-monster": "status", "midtrans": "transaction_status"}
# What a tampered Midtrans body claims instead of the truth: a status of the same status code, so that the
# signature holds and the code fits (a body whose status does not fit its code is refused outright).
_TAMPERED = {"expire": "cancel", "cancel": "deny", "deny": "expire", "settlement": "refund"}
DROPPED = 0.3
TAMPERED = 0.15


@dataclass
class Payment:
    provider: str
    n: int
    outcome: str  # the stand-in's status at the end
    truth: str  # payhook's canonical status for it ("open": pending or processing)
    fate: str = "sent"  # of its final callback: sent, dropped, tampered, none (open, or not notified)
    answered: int = 0  # payhook's answer to the tampered body

    @property
    def order_ref(self) -> str:
        return f"{self.provider[:2].upper()}-C{self.n}"

    @property
    def key(self) -> str:
        """Its id at the provider (the stand-in's key)."""
        return f"{self.provider[:2]}-c{self.n}"

    def created(self) -> dict[str, object]:
        """The control API's fields of the payment as created, still open."""
        if self.provider == "pivot":
            return {"id": self.key, "clientReferenceId": self.order_ref, "amount": 10_000 + self.n,
                    "status": "PROCESSING"}  # fmt: skip
        if self.provider == "revenue-monster":
            return {
                "transactionId": self.key,
                "orderId": self.order_ref,
                "amount": 100 + self.n,
                "status": "IN_PROCESS",
            }
        return {"transaction_id": self.key, "order_id": self.order_ref, "gross_amount": 10_000 + self.n,
                "transaction_status": "pending"}  # fmt: skip

    def final(self) -> dict[str, object]:
        fields: dict[str, object] = {_STATUS_FIELD[self.provider]: self.outcome}
        if self.provider == "pivot" and self.outcome == "CANCELLED":
            fields["cancellationReason"] = "REQUESTED_BY_CUSTOMER"
        return fields


def plan(count: int, seed: int = 19) -> list[Payment]:
    rng = random.Random(seed)
    made = []
    for n in range(count):
        provider = list(OUTCOMES)[n % 3]
        outcome, truth = rng.choice(OUTCOMES[provider])
        payment = Payment(provider, n, outcome, truth)
        if truth == "open" or (provider == "revenue-monster" and outcome != "SUCCESS"):
            payment.fate = "none"
        elif provider == "midtrans" and outcome in _TAMPERED and rng.random() < TAMPERED:
            payment.fate = "tampered"
        elif rng.random() < DROPPED:
            payment.fate = "dropped"
        made.append(payment)
    rng.shuffle(made)
    return made


class World:
    """Private PostgreSQL and Redis, the stand-in, and payhook's web, two workers and beat."""

    def __init__(self, folder: Path, rate: int, verify: str) -> None:
        keys = folder / "keys"
        self.pg_port = free_port()
        password = secrets.token_urlsafe(16)
        self.postgres: Server = start_postgres(folder, self.pg_port, password)
        self.redis = PrivateRedis(folder / "redis").start()
        self.standin, self.url = standin.launch(demo_environment(keys), keys, folder / "standin.log")
        self.env = {
            "PAYHOOK_DATABASE_URL": f"postgresql+psycopg://postgres:{password}@127.0.0.1:{self.pg_port}/payhook",
            "PAYHOOK_REDIS_URL": self.redis.url,
            "PAYHOOK_QUEUE_PREFIX": "payhook-chaos-rec",
            "PAYHOOK_CLAIM_TIMEOUT_SECONDS": "10",
            "PAYHOOK_WORKER_CONCURRENCY": "2",
            "PAYHOOK_LOG_LEVEL": "WARNING",
            **demo_environment(keys),
            **client_settings(self.url, keys),
            "PAYHOOK_MIDTRANS_VERIFY": verify,
            "PAYHOOK_PROVIDER_API_RATE": str(rate),
            "PAYHOOK_PROVIDER_API_TIMEOUT_SECONDS": "2",
            # Short, and long enough in all (about five minutes) to outlast the providers' outage.
            "PAYHOOK_RECONCILE_SCHEDULE": "2,3,5,8,10,15,20,30,45,60,90",
        }
        self.settings = Settings.from_env(self.env)
        upgrade(self.settings)
        self.stack = Stack(self.env, free_port(), folder)
        self.stack.web()
        self.stack.worker(2)
        self.stack.worker(2)
        self.stack.beat()
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def sim(self, method: str, path: str, body: object = None) -> dict[str, object]:
        answer = self.http.request(method, f"/_sim{path}", json=body)
        answer.raise_for_status()
        return dict(answer.json()) if answer.content else {}

    def stop(self) -> None:
        self.http.close()
        self.stack.stop()
        self.standin.stop()
        self.redis.stop()
        self.postgres.stop()


def expect_all(world: World, payments: list[Payment]) -> None:
    """The merchant tells payhook of every payment it creates; the stand-in holds each, still open."""
    ops = OperatorService(world.settings)
    try:
        for p in payments:
            world.sim("PUT", f"/{p.provider}/payments", p.created())
            payment_id = None if p.provider == "revenue-monster" else p.key
            ops.expect(p.provider, p.order_ref, actor="chaos", payment_id=payment_id)
    finally:
        ops.close()


def finish(world: World, p: Payment) -> None:
    """The payment reaches its outcome at the provider, which notifies payhook (or not)."""
    if p.truth == "open":
        return
    world.sim("PATCH", f"/{p.provider}/payments/{p.key}", p.final())
    if p.fate == "none":
        return
    target = f"{world.stack.url}/callbacks/{p.provider}"
    sent = world.sim("POST", f"/{p.provider}/payments/{p.key}/callback", {"url": target, "drop": p.fate != "sent"})
    if p.fate == "tampered":
        body = dict(sent["body"])  # type: ignore[call-overload]
        body["transaction_status"] = _TAMPERED[p.outcome]
        headers = dict(sent["headers"])  # type: ignore[call-overload]
        headers.pop("content-length", None)
        p.answered = httpx.post(target, content=json.dumps(body).encode(), headers=headers, timeout=15).status_code


def outage(world: World, started: float, log: list[str]) -> None:
    """Every provider's API: 5xx for 20 s, then answers slower than payhook waits for 10 s, then well."""
    for delay, mode, extra in ((10, "server_error", {"status": 503}), (30, "slow", {"seconds": 5})):
        time.sleep(max(0.0, started + delay - time.time()))
        for provider in OUTCOMES:
            world.sim("PUT", "/faults", {"provider": provider, "mode": mode, **extra})
        log.append(f"{time.time() - started:5.1f} s  every API: {mode}")
    time.sleep(max(0.0, started + 40 - time.time()))
    world.sim("DELETE", "/faults")
    log.append(f"{time.time() - started:5.1f} s  every API: recovered")


def compare(world: World, payments: list[Payment]) -> tuple[int, int, int]:
    """(matching, lost, wrong): lost, a payment whose outcome payhook does not know (missing, or still open);
    wrong, one whose status payhook has otherwise than the provider."""
    engine = create_engine(world.env["PAYHOOK_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT provider, order_ref, status FROM payments")).all()
    finally:
        engine.dispose()
    seen: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        seen.setdefault((row.provider, row.order_ref), []).append(row.status)
    matching = lost = wrong = 0
    for p in payments:
        statuses = seen.get((p.provider, p.order_ref), [])
        status = statuses[0] if len(statuses) == 1 else None
        if status is not None and (status == p.truth or (p.truth == "open" and status in OPEN)):
            matching += 1
        elif (status is None and not statuses) or status in OPEN:
            lost += 1
        else:
            wrong += 1
    return matching, lost, wrong


def converge(world: World, payments: list[Payment], timeout: float) -> tuple[float | None, tuple[int, int, int]]:
    """Seconds until every payment matches the provider's truth (None: not within ``timeout``)."""
    started = time.time()
    while True:
        counts = compare(world, payments)
        if counts[0] == len(payments):
            return time.time() - started, counts
        if time.time() - started > timeout:
            return None, counts
        time.sleep(2)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.chaos.reconcile")
    parser.add_argument("--payments", type=int, default=1500)
    parser.add_argument("--rate", type=int, default=50, help="PAYHOOK_PROVIDER_API_RATE, per provider")
    parser.add_argument("--seconds", type=float, default=45, help="how long the callbacks flow")
    # off: payhook believes Midtrans's bodies on their signature alone; tampered ones then end wrong (the check
    # that this scenario can fail).
    parser.add_argument("--midtrans-verify", choices=("status-api", "off"), default="status-api")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="payhook-chaos-rec-"))
    print(f"chaos-reconcile: load {load()}; logs in {folder}", flush=True)
    payments = plan(args.payments)
    world = World(folder, args.rate, args.midtrans_verify)
    try:
        expect_all(world, payments)
        print(f"chaos-reconcile: {len(payments):,} payments expected", flush=True)
        log: list[str] = []
        started = time.time()
        faults = threading.Thread(target=outage, args=(world, started, log))
        faults.start()
        for i, p in enumerate(payments):
            time.sleep(max(0.0, started + i * args.seconds / len(payments) - time.time()))
            finish(world, p)
        faults.join()
        callbacks_done = time.time() - started
        took, (matching, lost, wrong) = converge(world, payments, timeout=300)
        report(payments, log, callbacks_done, took, (matching, lost, wrong))
    finally:
        world.stop()


def report(
    payments: list[Payment], log: list[str], flowed: float, took: float | None, counts: tuple[int, int, int]
) -> None:
    fates = {fate: sum(p.fate == fate for p in payments) for fate in ("sent", "dropped", "tampered", "none")}
    print(f"\npayhook chaos, reconciliation, {time.strftime('%Y-%m-%d %H:%M')}, {len(payments):,} payments")
    print("\n".join(log))
    print(f"{flowed:5.1f} s  callbacks done and faults over")
    print("\n| figure | value |\n| --- | --- |")
    print(f"| final callbacks sent / dropped / tampered (Midtrans) / never sent | {fates['sent']:,} / "
          f"{fates['dropped']:,} / {fates['tampered']:,} / {fates['none']:,} |")  # fmt: skip
    tampered = [p.answered for p in payments if p.fate == "tampered"]
    print(f"| tampered bodies payhook acknowledged (200) | {tampered.count(200)} of {len(tampered)} |")
    print(f"| still open at the provider | {sum(p.truth == 'open' for p in payments):,} |")
    print(f"| matching the provider / lost / wrong | {counts[0]:,} / {counts[1]} / {counts[2]} |")
    converged = "not within 300 s" if took is None else f"{took:.0f} s"
    print(f"| converged after the APIs recovered and the callbacks ended | {converged} |")
    print(f"| load averages at the end | {load()} |")


if __name__ == "__main__":
    main()
