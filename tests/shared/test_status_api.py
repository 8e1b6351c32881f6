"""The status API contract as each provider declares it: which settings configure a client, the key an
expected payment gets, whether callbacks wait for confirmation, the report day; and an unavailable answer.
No I/O: nothing is asked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.providers import all_providers
from shared.settings import SettingsError
from shared.status_api import EXPECTED_PREFIX, Answer, ApiContext, Reply, StatusApi, Verdict


def _api(name: str) -> StatusApi:
    api = all_providers()[name].status_api
    assert api is not None
    return api


async def _send(method: str, url: str, **_: Any) -> Reply:
    raise AssertionError("nothing is asked")


class _Tokens:
    async def get(self, name: str) -> str | None:
        return None

    async def put(self, name: str, token: str, seconds: float) -> None: ...

    async def drop(self, name: str, token: str) -> None: ...


CONTEXT = ApiContext(send=_send, tokens=_Tokens(), clock=lambda: 0.0)


def test_an_unavailable_answer_carries_why_and_when_to_ask_again() -> None:
    answer = Answer.unavailable("HTTP 503", retry_after=30.0)
    assert (answer.verdict, answer.provider_status, answer.retry_after, answer.event) == (
        Verdict.UNAVAILABLE,
        "HTTP 503",
        30.0,
        None,
    )


def test_a_client_only_with_every_credential() -> None:
    pivot = _api("pivot")
    full = {"PAYHOOK_PIVOT_MERCHANT_ID": "m", "PAYHOOK_PIVOT_MERCHANT_SECRET": "s"}
    assert pivot.configured(full) and pivot.configure(full, CONTEXT) is not None
    half = {"PAYHOOK_PIVOT_MERCHANT_ID": "m", "PAYHOOK_PIVOT_MERCHANT_SECRET": " "}
    assert not pivot.configured(half) and pivot.configure(half, CONTEXT) is None
    assert all(variable.startswith("PAYHOOK_PIVOT_") for variable in pivot.settings)


def test_the_key_of_an_expected_payment() -> None:
    assert _api("midtrans").expected_key("order-1", None) == EXPECTED_PREFIX + "order-1"
    assert _api("midtrans").expected_key("order-1", "trx-9") == "trx-9"
    assert _api("pivot").expected_key("order-1", "ps-1") == "ps-1"
    with pytest.raises(ValueError, match="payment session id"):
        _api("pivot").expected_key("order-1", None)


def test_midtrans_callbacks_wait_for_confirmation_unless_turned_off() -> None:
    midtrans = _api("midtrans")
    assert midtrans.confirms_callbacks({}) and not midtrans.confirms_callbacks({"PAYHOOK_MIDTRANS_VERIFY": "off"})
    with pytest.raises(SettingsError, match="PAYHOOK_MIDTRANS_VERIFY"):
        midtrans.confirms_callbacks({"PAYHOOK_MIDTRANS_VERIFY": "sometimes"})
    assert not _api("pivot").confirms_callbacks({})


def test_revenue_monsters_report_day_is_yesterday_in_malaysia() -> None:
    report_day = _api("revenue-monster").report_day
    assert report_day is not None and _api("pivot").report_day is None
    # 2026-01-02 17:00 UTC is already 2026-01-03 01:00 in Kuala Lumpur.
    assert report_day(datetime(2026, 1, 2, 17, 0, tzinfo=UTC).timestamp()) == date(2026, 1, 2)
    assert report_day(datetime(2026, 1, 2, 15, 0, tzinfo=UTC).timestamp()) == date(2026, 1, 1)
