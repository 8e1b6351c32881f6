"""What every registered provider module must do, parametrized over the registry: adding a provider module
runs all of this for it. Pure, but for the last test, which sends every sample through the real receiver,
Redis and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from shared.canonical import CanonicalEvent, InvalidJson, NormalizeError, Status
from shared.providers import Authenticator, Provider, all_providers
from shared.settings import Settings
from tests.shared.providers.strategies import node_at, nodes_of
from tests.support.fixtures import KEYS, PROVIDERS, signer
from tests.support.pipeline import drain_all, payment, post


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> Provider:
    return all_providers()[request.param]


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _configured(provider: Provider, *secrets: str) -> Authenticator:
    auth = provider.configure({provider.credential: "\n".join(secrets or (signer(provider.name).secret,))})
    assert auth is not None
    return auth


def _events(provider: Provider) -> dict[str, CanonicalEvent | None]:
    return {name: provider.normalize(body) for name, body in provider.samples().items()}


def test_declares_what_the_registry_reads(provider: Provider) -> None:
    assert provider.name and provider.title and provider.description
    assert provider.credential.startswith("PAYHOOK_")
    assert provider.samples(), "a provider ships sample bodies"
    assert provider.example in provider.samples()
    assert provider.statuses and all(isinstance(s, Status) for s in provider.statuses.values())
    assert all(h == h.lower() for h in provider.kept_headers)
    assert provider.allowed_sources_variable.endswith("_ALLOWED_SOURCES")


def test_unconfigured_it_has_no_authenticator(provider: Provider) -> None:
    assert provider.configure({}) is None


def test_every_sample_signed_verifies_and_normalizes_to_a_well_formed_event(provider: Provider) -> None:
    auth = _configured(provider)
    for name, body in provider.samples().items():
        sent, headers = signer(provider.name).sign(body)
        assert auth.refusal(_lower(headers), sent) is None, name
        event = provider.normalize(sent)
        if event is None:
            continue  # accepted, changes nothing (a test ping)
        assert event.provider == provider.name
        assert isinstance(event.status, Status)
        assert event.event_key and event.payment_key
        for amount in (event.amount, event.refund_amount):
            assert amount is None or (isinstance(amount, Decimal) and amount >= 0)
        assert event.currency is None or (len(event.currency) == 3 and event.currency.isupper())


def test_the_example_is_a_paid_payment_with_an_order_reference(provider: Provider) -> None:
    event = _events(provider)[provider.example]
    assert event is not None and event.status is Status.PAID and event.order_ref


def test_sending_a_sample_twice_gives_the_same_event_key(provider: Provider) -> None:
    for name, body in provider.samples().items():
        first, second = provider.normalize(body), provider.normalize(body)
        assert (first is None and second is None) or (first and second and first.event_key == second.event_key), name


def test_distinct_samples_are_distinct_events(provider: Provider) -> None:
    keys = [event.event_key for event in _events(provider).values() if event is not None]
    assert len(keys) == len(set(keys))


def test_without_its_authentication_headers_nothing_is_accepted(provider: Provider) -> None:
    if not provider.auth_headers:
        pytest.skip(f"{provider.name} authenticates inside the body")
    auth = _configured(provider)
    names = {h.name.lower() for h in provider.auth_headers}
    for name, body in provider.samples().items():
        sent, headers = signer(provider.name).sign(body)
        stripped = {k: v for k, v in _lower(headers).items() if k not in names}
        assert auth.refusal(stripped, sent) is not None, name


def test_signed_with_other_credentials_is_refused(provider: Provider, tmp_path: Path) -> None:
    auth = _configured(provider)
    forger = provider.test_signer(tmp_path)
    for name, body in provider.samples().items():
        sent, headers = forger.sign(body)
        assert auth.refusal(_lower(headers), sent) is not None, name


def _tampered(provider: Provider, body: bytes) -> list[bytes]:
    """Copies of ``body`` with one field the signature covers changed."""
    doc: dict[str, Any] = json.loads(body)
    if provider.signature_covers == ("*",):
        covered = [path for path in nodes_of(doc) if path and not isinstance(node_at(doc, path), dict | list)]
    else:
        covered = [tuple(path.split(".")) for path in provider.signature_covers]
    copies = []
    for path in covered:
        changed = json.loads(body)
        holder = node_at(changed, path[:-1])
        value = holder[path[-1]]
        holder[path[-1]] = value + "1" if isinstance(value, str) else (not value if isinstance(value, bool) else 7)
        copies.append(json.dumps(changed).encode())
    return copies


def test_a_change_to_what_the_signature_covers_is_refused(provider: Provider) -> None:
    if not provider.signature_covers:
        pytest.skip(f"{provider.name}'s credential authenticates the sender, not the body")
    auth = _configured(provider)
    for name, body in provider.samples().items():
        sent, headers = signer(provider.name).sign(body)
        copies = _tampered(provider, sent)
        assert copies, name
        for changed in copies:
            assert auth.refusal(_lower(headers), changed) is not None, (name, changed[:200])


def test_every_credential_of_a_rotation_is_accepted(provider: Provider, tmp_path: Path) -> None:
    old, new, other = (provider.test_signer(tmp_path / n) for n in ("old", "new", "other"))
    auth = _configured(provider, old.secret, new.secret)
    body = provider.samples()[provider.example]
    for current in (old, new):
        sent, headers = current.sign(body)
        assert auth.refusal(_lower(headers), sent) is None
    sent, headers = other.sign(body)
    assert auth.refusal(_lower(headers), sent) is not None


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'"text"', b"{"], ids=repr)
def test_a_body_that_is_not_an_object_is_invalid_json(provider: Provider, body: bytes) -> None:
    with pytest.raises(InvalidJson):
        provider.normalize(body)


def test_unknown_extra_fields_are_tolerated(provider: Provider) -> None:
    doc = json.loads(provider.samples()[provider.example])
    doc["brandNewField"] = {"nested": [1, 2, {"x": None}]}
    event = provider.normalize(json.dumps(doc).encode())
    assert event is not None and event.status is Status.PAID


def test_an_empty_object_names_what_is_missing(provider: Provider) -> None:
    with pytest.raises(NormalizeError) as caught:
        provider.normalize(b"{}")
    assert caught.value.reason and caught.value.message


@pytest.mark.integration
def test_every_sample_sent_through_the_receiver_is_applied_and_the_example_ends_paid(
    provider: Provider, settings: Settings, web: TestClient, engine: Engine
) -> None:
    for body in provider.samples().values():
        post(web, provider.name, body)
    report = drain_all(settings)
    assert report.dead_lettered == 0
    events = [e for e in _events(provider).values() if e is not None]
    assert sum(report.outcomes.values()) == len(events)
    example = _events(provider)[provider.example]
    assert example is not None and example.order_ref is not None
    shown = payment(engine, provider.name, example.order_ref)
    assert shown is not None
    assert any(e["type"] == example.event_type for e in shown["events"])
    assert shown["status"] == "paid"


def test_the_fixture_credentials_are_the_committed_ones() -> None:
    """Tests sign with credentials committed under tests/fixtures/keys: a run never writes new ones there."""
    before = sorted(p.name for p in KEYS.iterdir())
    for name in PROVIDERS:
        signer(name)
    assert sorted(p.name for p in KEYS.iterdir()) == before
