"""Callbacks like the samples: both providers, duplicates, statuses in shuffled order."""

from __future__ import annotations

import json
import random
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support import rm_headers, sample

Callback = tuple[str, bytes, dict[str, str]]


def _pivot(event: str, i: int, status: str) -> bytes:
    doc: dict[str, Any] = json.loads(sample("pivot.payment_paid"))
    doc["event"] = event
    doc["data"].update(id=f"bench-session-{i}", clientReferenceId=f"bench-order-{i}", status=status)
    return json.dumps(doc, separators=(",", ":")).encode()


def _pivot_refund(i: int) -> bytes:
    doc: dict[str, Any] = json.loads(sample("pivot.refund_success"))
    doc["data"].update(id=f"bench-refund-{i}", paymentSessionId=f"bench-session-{i}")
    return json.dumps(doc, separators=(",", ":")).encode()


def _rm(i: int, status: str, key: rsa.RSAPrivateKey | None) -> Callback:
    doc: dict[str, Any] = json.loads(sample("revenue-monster.payment_web_online"))
    doc["data"]["order"]["id"] = f"RM{i:010d}"
    doc["data"].update(transactionId=f"bench-txn-{i}", status=status)
    body = json.dumps(doc, separators=(",", ":")).encode()
    headers = rm_headers(body, key) if key is not None else {}
    return "revenue-monster", body, {k.lower(): v for k, v in headers.items()}


def callbacks(
    total: int, *, seed: int = 7, duplicates: float = 0.10, key: rsa.RSAPrivateKey | None = None, start: int = 0
) -> list[Callback]:
    """``total`` callbacks: ~2/3 Pivot payment stories, ~1/3 Revenue Monster, ``duplicates`` of them repeats,
    all shuffled so that statuses arrive out of order."""
    rng = random.Random(seed)
    distinct: list[Callback] = []
    wanted = int(total * (1 - duplicates))
    i = start
    while len(distinct) < wanted:
        if i % 3 == 2:
            distinct.append(_rm(i, rng.choice(["SUCCESS", "SUCCESS", "IN_PROCESS", "FULL_REFUNDED"]), key))
        else:
            distinct.append(("pivot", _pivot("PAYMENT.PROCESSING", i, "PROCESSING"), {}))
            distinct.append(("pivot", _pivot("PAYMENT.PAID", i, "PAID"), {}))
            if i % 5 == 0:
                distinct.append(("pivot", _pivot_refund(i), {}))
        i += 1
    distinct = distinct[:wanted]
    everything = distinct + [rng.choice(distinct) for _ in range(total - wanted)]
    rng.shuffle(everything)
    return everything
