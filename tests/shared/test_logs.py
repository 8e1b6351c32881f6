"""Logs follow one callback: the entry id of the 200 names the commit and the dead letter, in JSON lines
with no body in them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from shared import logs
from shared.settings import Settings, SettingsError
from tests.support.fixtures import sample
from tests.support.pipeline import drain_all, post


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("json", "DEBUG", stream)
    yield stream
    root.handlers = saved[0]
    root.setLevel(saved[1])


@pytest.mark.integration
def test_the_entry_id_of_the_200_names_the_commit_and_the_dead_letter(
    settings: Settings, web: TestClient, captured: io.StringIO
) -> None:
    paid = post(web, "pivot", sample("pivot.payment_paid"))
    garbage = post(web, "pivot", b"secret-body-bytes not json")
    drain_all(settings)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    by_entry = {(line.get("entry_id"), line["message"]): line for line in lines}
    assert by_entry[(paid, "queued")]["provider"] == "pivot"
    assert by_entry[(paid, "committed")]["event_type"] == "PAYMENT.PAID"
    assert by_entry[(garbage, "dead-lettered")]["reason"] == "invalid_json"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert "secret-body-bytes" not in captured.getvalue()


def test_text_lines_carry_the_same_fields_and_no_traceback() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("text", "INFO", stream)
        try:
            raise ValueError("a body might be quoted here")
        except ValueError:
            logging.getLogger("payhook.test").exception("failed", extra={"entry_id": "1-0", "reason": "x"})
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
    line = stream.getvalue().strip()
    assert line.endswith("[entry_id=1-0 reason=x]") and "(ValueError)" in line
    assert "a body might be quoted" not in line


def test_the_format_and_level_settings_are_checked() -> None:
    assert Settings.from_env({"PAYHOOK_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError, match="PAYHOOK_LOG_FORMAT"):
        Settings.from_env({"PAYHOOK_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="PAYHOOK_LOG_LEVEL"):
        Settings.from_env({"PAYHOOK_LOG_LEVEL": "loud"})
