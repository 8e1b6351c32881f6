"""The providers' example callbacks made true in a running stand-in: ``payhook dev`` prints a curl per example,
and a provider whose notifications are verified by its status API (Midtrans) then confirms the banner's example
(and reconciliation has a payment to show)."""

from __future__ import annotations

import urllib.request

import orjson

from shared.providers import midtrans
from shared.providers._standin.midtrans import FIELDS


def seed_examples(url: str) -> None:
    """Put the example Midtrans transaction in the stand-in served at ``url``. urllib, not httpx: ``make run``
    installs the run-time dependencies only. A refusal raises HTTPError."""
    sample = orjson.loads(midtrans.PROVIDER.samples()[midtrans.PROVIDER.example])
    fields = {name: value for name, value in sample.items() if name in FIELDS}
    request = urllib.request.Request(  # noqa: S310 - http, loopback, ours
        f"{url}/_sim/midtrans/payments", data=orjson.dumps(fields), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - http, loopback, ours
        pass
