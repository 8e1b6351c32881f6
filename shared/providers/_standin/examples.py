"""The providers' example callbacks made true in a running stand-in: ``payhook dev`` prints a curl per example,
and a provider whose notifications are verified by its status API (Midtrans) then confirms the banner's example
(and reconciliation has a payment to show). ``payhook simulate``'s banner shows the same examples as control API
calls."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from shared.providers import all_providers, midtrans
from shared.providers._standin.world import KINDS


@dataclass(frozen=True, slots=True)
class Example:
    provider: str
    # The control API's fields of the payment (PUT /_sim/<provider>/payments).
    fields: dict[str, Any]
    # What its callback is asked for by (POST /_sim/<provider>/payments/<key>/callback).
    key: str


def examples() -> Iterator[Example]:
    """Each provider's example callback (its ``example`` sample) as a payment of its stand-in."""
    kinds = {kind.name: kind for kind in KINDS}
    for provider in all_providers().values():
        sample = provider.samples()[provider.example]
        _, order_ref = provider.peek(sample)
        assert order_ref is not None, f"{provider.name}'s example names no order"
        yield Example(provider.name, kinds[provider.name].example(orjson.loads(sample)), order_ref)


def seed_examples(url: str) -> None:
    """Put the example Midtrans transaction in the stand-in served at ``url``. urllib, not httpx: ``make run``
    installs the run-time dependencies only. A refusal raises HTTPError."""
    example = next(e for e in examples() if e.provider == midtrans.PROVIDER.name)
    request = urllib.request.Request(  # noqa: S310 - http, loopback, ours
        f"{url}/_sim/midtrans/payments", data=orjson.dumps(example.fields), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - http, loopback, ours
        pass
