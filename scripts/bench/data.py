"""Callbacks like the samples, for every registered provider: many payments, duplicates, shuffled.

Each provider's samples make one payment's story. Copies of the story get identifiers of their own: every
string in a sample that names the payment or the event (what the normalizer reads into ``payment_key``,
``order_ref``, ``provider_payment_id`` and the parts of ``event_key``) gets a suffix, except status words,
event types and decimal amounts. No provider needs to know about the bench.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from shared.providers import Provider, all_providers

Callback = tuple[str, bytes, dict[str, str]]


def _is_amount(text: str) -> bool:
    """A decimal string such as ``"150000.00"`` (all-digit strings are identifiers)."""
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return "." in text


@cache
def _identifiers(name: str) -> frozenset[str]:
    provider = all_providers()[name]
    words = {word for declared in provider.statuses for word in declared.replace("(", " ").split()}
    found: set[str] = set()
    for body in provider.samples().values():
        event = provider.normalize(body)
        if event is None:
            continue
        found |= {v for v in (event.payment_key, event.order_ref, event.provider_payment_id) if v}
        found |= {part for part in event.event_key.split(":") if part != event.event_type}
    return frozenset(v for v in found if v not in words and not _is_amount(v) and any(c.isdigit() for c in v))


def _vary(value: Any, identifiers: frozenset[str], suffix: str) -> Any:
    if isinstance(value, dict):
        return {k: _vary(v, identifiers, suffix) for k, v in value.items()}
    if isinstance(value, list):
        return [_vary(v, identifiers, suffix) for v in value]
    if isinstance(value, str) and value in identifiers:
        return f"{value}-{suffix}"
    return value


def story(provider: Provider, i: int) -> list[bytes]:
    """The provider's samples as payment number ``i``: compact JSON with identifiers of its own."""
    identifiers = _identifiers(provider.name)
    return [
        json.dumps(_vary(json.loads(body), identifiers, f"b{i}"), separators=(",", ":")).encode()
        for body in provider.samples().values()
    ]


def callbacks(total: int, *, seed: int = 7, duplicates: float = 0.10, start: int = 0) -> list[Callback]:
    """``total`` callbacks: payment stories of every provider in turn, ``duplicates`` of them repeats, all
    shuffled so that statuses arrive out of order. Unsigned: they go straight into the stream."""
    rng = random.Random(seed)
    providers = list(all_providers().values())
    distinct: list[Callback] = []
    wanted = int(total * (1 - duplicates))
    i = start
    while len(distinct) < wanted:
        provider = providers[i % len(providers)]
        distinct.extend((provider.name, body, {}) for body in story(provider, i))
        i += 1
    distinct = distinct[:wanted]
    everything = distinct + [rng.choice(distinct) for _ in range(total - wanted)]
    rng.shuffle(everything)
    return everything
