"""Hostile input, property by property, for every registered provider (pure: no Redis, no PostgreSQL).

- normalizers raise nothing but ``NormalizeError`` on any body, and what they return is well formed;
- authenticators never raise on hostile input, and accept nothing without the secret.

Provider-specific properties (Revenue Monster's signatures over any layout, Pivot's key comparison) are in
each provider's own test module.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, currently_in_test_context, event, given
from hypothesis import strategies as st

from shared.canonical import CanonicalEvent, NormalizeError, Status
from shared.providers import Authenticator, Signer, all_providers
from shared.providers._gojson import MAX_DEPTH
from tests.shared.providers.strategies import (
    PROPERTY,
    JSONValue,
    dumps,
    json_values,
    layouts,
    node_at,
    nodes_of,
    parent_of,
)
from tests.support.fixtures import KEYS, PROVIDERS

# --- b. normalizers raise nothing but NormalizeError -------------------------------------------------------

CURRENCY = re.compile(r"[A-Z]{3}")


def _vocabulary() -> list[str]:
    """Every status word the providers know (each word of their declared mappings), and values the
    normalizers compare with."""
    words = {"SUCCESS", "EXPIRED", "ACTIVE", "PAID", "FAILED", "accept", "challenge", "deny"}
    for provider in all_providers().values():
        for declared in provider.statuses:
            words |= set(re.findall(r"[A-Za-z_.]+", declared))
    return sorted(words)


# fmt: off
NEAR_MISS_STRINGS = [
    "0", "-0", "-1", "0.001", " 12.50 ", "1e17", "1E+18", "9" * 40, "NaN", "-NaN", "sNaN", "Infinity",
    "-inf", "1_000", "0x10", "\u0661\u0662", "0E-1000000000", "1E-1000000000", "0E+1000000000", "",
    "IDR", "idr", "MYR", "ID", "IDRR", "\u00df\u00df\u00df", "\uff29\uff24\uff32", "1.0",
    "2025-07-01T02:00:05Z", "2025-07-01T02:00:05", "2025-07-01T02:00:05.123456789123+07:00",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-23:59", "2025-13-45T99:99:99Z", ".", "Z",
    "x" * 300,
]
ODD_BODIES = [
    b"", b"{}", b"null", b'{"a":1e400}', b'{"a":-1e400}', b'{"a":' + b"9" * 5000 + b"}", b'{"a":NaN}',
    b'{"a":Infinity}', b'{"a":-0}', b'{"\\ud800":1,"\\ufffd":2}', b'{"a":"\xff\xfe\xed\xa0\x80"}',
    b'{"a":"\\b\\f<>&\xe2\x80\xa8"}', b'{"a":1,"a":2}', b"\xef\xbb\xbf{}", b'{"a":1} x', b"[1,]",
]
# fmt: on

# Values a hostile or buggy sender might put where the normalizers look: names that almost match, amounts
# at every edge of Decimal, currencies that are not ISO codes, timestamps with and without an offset.
near_misses: st.SearchStrategy[JSONValue] = st.one_of(
    st.sampled_from(_vocabulary()),
    st.sampled_from(_vocabulary()).map(str.lower),
    st.sampled_from(NEAR_MISS_STRINGS),
    st.sampled_from([0, -0.0, -1, 1, 5e-324, 1e308, 0.1, 1.005, 2**63, 10**17, 10**18, 10**30, True, False]),
    st.builds(lambda d: format(d, "f"), st.decimals(allow_nan=False, allow_infinity=False, places=3)),
)
replacements: st.SearchStrategy[JSONValue] = st.one_of(near_misses, json_values)


def _sample_documents(provider: str) -> list[Any]:
    found = all_providers()[provider].samples()
    assert found, f"no samples for {provider}"
    return [json.loads(body) for body in found.values()]


def _tweaks(value: JSONValue) -> st.SearchStrategy[JSONValue]:
    """Values close to ``value``: what a sender gets subtly wrong (a lost offset, a case, a sign, a type)."""
    if isinstance(value, str):
        options: list[JSONValue] = [value[:-1], value[1:], value.lower(), f" {value}", value * 20, value + "\x00"]
        options += [re.sub(r"(Z|[+-]\d\d:\d\d)$", "", value), [value], {"value": value}]
    elif isinstance(value, bool) or value is None:
        options = [not value, str(value).lower(), 0, 1, ""]
    elif isinstance(value, int | float):
        options = [-value, str(value), value * 10**16, value + 0.5 if abs(value) < 1e300 else 0.5, [value]]
    else:
        options = [None, {}, [], str(value)[:20]]
    return st.sampled_from(options)


@st.composite
def mutated_samples(draw: st.DrawFn, provider: str) -> bytes:
    """One of ``provider``'s sample bodies with one to four subtrees replaced (by arbitrary JSON, by names
    and values the normalizers look for, or by a near miss of what was there), removed or duplicated."""
    doc = copy.deepcopy(draw(st.sampled_from(_sample_documents(provider))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        how = draw(st.sampled_from(["replace", "tweak", "delete", "duplicate"]))
        if how == "duplicate":
            in_lists = [p for p in nodes_of(doc) if p and isinstance(parent_of(doc, p), list)]
            if in_lists:
                path = draw(st.sampled_from(in_lists))
                parent = parent_of(doc, path)
                parent.insert(int(path[-1]), copy.deepcopy(parent[path[-1]]))
            continue
        # Never the root: a body that is not the sample at all is test_normalize_arbitrary_json's business.
        paths = [p for p in nodes_of(doc) if p]
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        if how == "delete":
            del parent_of(doc, path)[path[-1]]
        else:
            parent_of(doc, path)[path[-1]] = draw(_tweaks(node_at(doc, path)) if how == "tweak" else replacements)
    return json.dumps(doc).encode()


def _note(outcome: str) -> None:
    """What became of the body, for ``--hypothesis-show-statistics``: mutations must reach every outcome."""
    if currently_in_test_context():
        event(outcome)


def _check_refusal(exc: NormalizeError) -> None:
    assert isinstance(exc.reason, str) and exc.reason
    assert isinstance(exc.message, str)
    _note(f"refused: {exc.reason}")


def _normalizes_cleanly(provider: str, body: bytes) -> None:
    try:
        event = all_providers()[provider].normalize(body)
    except NormalizeError as exc:
        _check_refusal(exc)
        return
    _note("ignored" if event is None else f"normalized: {getattr(event, 'status', '?')}")
    if event is None:
        return
    assert isinstance(event, CanonicalEvent)
    assert event.provider == provider
    assert isinstance(event.status, Status)
    assert isinstance(event.event_key, str) and event.event_key
    assert isinstance(event.payment_key, str) and event.payment_key
    for amount in (event.amount, event.refund_amount):
        if amount is not None:
            assert isinstance(amount, Decimal)
            assert amount.is_finite() and amount >= 0, amount
    if event.currency is not None:
        assert CURRENCY.fullmatch(event.currency), event.currency


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY
@given(body=st.binary(max_size=512))
def test_normalize_arbitrary_bytes(provider: str, body: bytes) -> None:
    _normalizes_cleanly(provider, body)


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY
@given(doc=json_values, layout=layouts)
def test_normalize_arbitrary_json(provider: str, doc: JSONValue, layout: dict[str, Any]) -> None:
    _normalizes_cleanly(provider, dumps(doc, layout))


@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY
@given(data=st.data())
def test_normalize_mutated_samples(provider: str, data: st.DataObject) -> None:
    _normalizes_cleanly(provider, data.draw(mutated_samples(provider), label="body"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_samples_normalize_as_they_are(provider: str) -> None:
    """The baseline the mutations start from: every unmodified sample is accepted."""
    for doc in _sample_documents(provider):
        _normalizes_cleanly(provider, json.dumps(doc).encode())


# --- c. authenticators on hostile input ------------------------------------------------------------------

CALLBACK_HEADERS = sorted({"content-type"} | {h.name.lower() for p in all_providers().values() for h in p.auth_headers})
header_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
long_text = st.builds(lambda unit, times: unit * times, header_text.filter(bool), st.integers(1, 20_000))


def _signature(scheme: str, gap: str, raw: bytes) -> str:
    return f"{scheme}{gap}{base64.b64encode(raw).decode()}"


forged_signatures = st.builds(
    _signature,
    st.sampled_from(["sha256", "SHA256", " sha256", "sha1", "rsa", ""]),
    st.sampled_from([" ", "  ", "\t", ""]),
    # 256 bytes is the key's size: only such a signature reaches the RSA check.
    st.one_of(st.binary(min_size=256, max_size=256), st.binary(max_size=600)),
)
header_values = st.one_of(header_text, long_text, forged_signatures, st.just(""))
hostile_headers = st.dictionaries(
    st.one_of(st.sampled_from(CALLBACK_HEADERS), header_text), header_values, max_size=len(CALLBACK_HEADERS) + 2
)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


hostile_bodies = st.one_of(
    st.binary(max_size=1024),
    st.builds(dumps, json_values, layouts),
    st.builds(lambda n: b"[" * n + b"]" * n, st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 100_000])),
    st.builds(_nested, st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 5_000])),
    st.sampled_from(ODD_BODIES),
)


@cache
def _signer(provider: str, folder: Path) -> Signer:
    return all_providers()[provider].test_signer(folder)


@cache
def _authenticator(provider: str, rotation: bool, other: Path) -> Authenticator:
    """The provider configured with the test credentials, or (a rotation) with two others, neither of which
    signed anything here."""
    secrets = [_signer(provider, other / "a").secret, _signer(provider, other / "b").secret] if rotation else []
    credential = "\n".join(secrets) if rotation else _signer(provider, KEYS).secret
    auth = all_providers()[provider].configure({all_providers()[provider].credential: credential})
    assert auth is not None
    return auth


def _secrets(provider: str) -> set[str]:
    return {_signer(provider, KEYS).secret}


@pytest.mark.parametrize("rotation", [False, True], ids=["one-key", "rotation"])
@pytest.mark.parametrize("provider", PROVIDERS)
@PROPERTY
@given(headers=hostile_headers, body=hostile_bodies)
def test_authenticators_refuse_hostile_input_without_raising(
    provider: str, rotation: bool, headers: dict[str, str], body: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = _other_keys(tmp_path_factory)
    auth = _authenticator(provider, rotation, other)
    assume(not _secrets(provider) & {v.strip() for v in headers.values()})
    refusal = auth.refusal(headers, body)
    assert isinstance(refusal, str) and refusal
    for secret in _secrets(provider):
        assert secret not in refusal  # a refusal names what was wrong, never the secret


_OTHER: dict[str, Path] = {}


def _other_keys(factory: pytest.TempPathFactory) -> Path:
    """A folder of throwaway credentials that are not the test ones, made once per run."""
    if "dir" not in _OTHER:
        _OTHER["dir"] = factory.mktemp("other-credentials")
    return _OTHER["dir"]
