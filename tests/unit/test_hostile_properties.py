"""Hostile input, property by property (pure: no Redis, no PostgreSQL).

- Revenue Monster signatures survive any JSON document and any layout of it, and break on any change;
- normalizers raise nothing but ``NormalizeError`` on any body, and what they return is well formed;
- authenticators never raise, and accept nothing forged without the secret.

The bugs these properties found are pinned by minimal regression tests at the end.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import cache
from typing import Any, TypeAlias

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import assume, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from shared.canonical import CanonicalEvent, NormalizeError, Status
from shared.gojson import MAX_DEPTH, canonical_json
from shared.providers import Authenticator, all_providers
from shared.providers import pivot as pivot_module
from shared.providers import revenue_monster as rm_module
from shared.providers.revenue_monster import RsaSignatureAuthenticator, signing_string
from tests.support import SAMPLES, fixture_private_key, json_depth, public_pem, rm_headers

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
Path: TypeAlias = tuple[str | int, ...]

PROPERTY = settings(max_examples=200, deadline=None)
PIVOT_TEST_KEY = "k" * 32
PROVIDERS = sorted(all_providers())

# --- strategies -------------------------------------------------------------------------------------------

# Characters that every JSON encoder treats specially somewhere: HTML escapes, line separators, controls,
# quotes, backslashes, brackets (which steer canonical_json between its fast and slow paths), astral planes.
TRICKY = '<>&\u2028\u2029"\\\b\f\n\t\x00\x1f\x7f/{}[]\u00e9\ufffd\ufeff\U0001f600'
# No lone surrogates: they are not UTF-8, so no HTTP body or (latin-1 decoded) header can hold one.
json_text = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), max_size=12)
json_ints = st.one_of(
    st.integers(),
    st.integers(min_value=2**53 - 2, max_value=2**53 + 2),
    st.integers(min_value=2**63 - 2, max_value=2**64 + 2),
    # Far beyond int64, still inside float64's range (Go refuses what a float64 cannot hold).
    st.integers(min_value=-(10**300), max_value=10**300),
)
json_scalars: st.SearchStrategy[JSONValue] = st.one_of(
    st.none(), st.booleans(), json_ints, st.floats(allow_nan=False, allow_infinity=False), json_text
)


def _containers(children: st.SearchStrategy[JSONValue]) -> st.SearchStrategy[JSONValue]:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(json_text, children, max_size=4))


json_values: st.SearchStrategy[JSONValue] = st.recursive(json_scalars, _containers, max_leaves=20)
json_objects: st.SearchStrategy[dict[str, JSONValue]] = st.dictionaries(json_text, json_values, max_size=6)

layouts = st.fixed_dictionaries(
    {
        "indent": st.sampled_from([None, 0, 2, "\t", "\r\n "]),
        "separators": st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\n", " :\t")]),
        "sort_keys": st.booleans(),
        "ensure_ascii": st.booleans(),
    }
)


def _dumps(value: JSONValue, layout: Mapping[str, Any]) -> bytes:
    return json.dumps(value, **layout).encode()


def _paths(value: JSONValue, here: Path = ()) -> Iterator[Path]:
    """Every node of ``value``, root first, as the keys and indexes that lead to it."""
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*here, index))


def _node(doc: JSONValue, path: Path) -> Any:
    node: Any = doc
    for step in path:
        node = node[step]
    return node


def _parent(doc: JSONValue, path: Path) -> Any:
    return _node(doc, path[:-1])


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@cache
def _private_key() -> rsa.RSAPrivateKey:
    return fixture_private_key()


@cache
def _other_key() -> rsa.RSAPrivateKey:
    """A key of the right size that is not Revenue Monster's: what a forger can have."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rm(**env: str) -> RsaSignatureAuthenticator:
    auth = rm_module.configure({rm_module.KEY_VARIABLE: public_pem(_private_key()), **env})
    assert auth is not None
    return auth


def _pivot(keys: str = PIVOT_TEST_KEY) -> pivot_module.ApiKeyAuthenticator:
    auth = pivot_module.configure({pivot_module.KEY_VARIABLE: keys})
    assert auth is not None
    return auth


# --- a. Revenue Monster signatures over arbitrary JSON ----------------------------------------------------


@PROPERTY
@given(doc=json_objects, layout=layouts)
def test_signed_document_verifies(doc: dict[str, JSONValue], layout: dict[str, Any]) -> None:
    assume(json_depth(doc) <= MAX_DEPTH)
    body = _dumps(doc, layout)
    assert _rm().refusal(_lower(rm_headers(body, _private_key())), body) is None


@PROPERTY
@given(doc=json_objects, signed_layout=layouts, sent_layout=layouts, rng=st.randoms(use_true_random=False))
def test_signature_survives_any_layout(
    doc: dict[str, JSONValue], signed_layout: dict[str, Any], sent_layout: dict[str, Any], rng: random.Random
) -> None:
    """Revenue Monster signs Go's re-encoding: the same document laid out another way (other whitespace,
    escapes, key order) is the same callback."""
    assume(json_depth(doc) <= MAX_DEPTH)
    headers = _lower(rm_headers(_dumps(doc, signed_layout), _private_key()))
    keys = list(doc)
    rng.shuffle(keys)
    reordered = {key: doc[key] for key in keys}
    assert _rm().refusal(headers, _dumps(reordered, sent_layout)) is None


@st.composite
def tampered_documents(draw: st.DrawFn) -> tuple[dict[str, JSONValue], JSONValue]:
    """A document and a changed copy of it: wrapped in another object, or one node replaced or removed."""
    doc = draw(json_objects)
    how = draw(st.sampled_from(["wrap", "replace", "delete", "add"]))
    if how == "wrap":
        return doc, {draw(json_text): doc}
    changed = copy.deepcopy(doc)
    paths = [p for p in _paths(changed) if p]
    if how == "add" or not paths:
        objects = [p for p in _paths(changed) if isinstance(_node(changed, p), dict)]
        container = _node(changed, draw(st.sampled_from(objects)))
        container[draw(json_text.filter(lambda k: k not in container))] = draw(json_values)
        return doc, changed
    path = draw(st.sampled_from(paths))
    parent = _parent(changed, path)
    if how == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return doc, changed


@PROPERTY
@given(pair=tampered_documents(), layout=layouts)
def test_changed_document_is_refused(pair: tuple[dict[str, JSONValue], JSONValue], layout: dict[str, Any]) -> None:
    original, changed = pair
    assume(json_depth(original) <= MAX_DEPTH and json_depth(changed) <= MAX_DEPTH)
    signed, sent = _dumps(original, layout), _dumps(changed, layout)
    # 1 and 1.0, or 2**53 and 2**53 + 1, are one float64 in Go: such a "change" is no change at all.
    assume(canonical_json(signed) != canonical_json(sent))
    refusal = _rm().refusal(_lower(rm_headers(signed, _private_key())), sent)
    assert refusal == "signature does not verify"


@PROPERTY
@given(doc=json_objects, header=st.sampled_from(["x-nonce-str", "x-timestamp"]), new=json_text)
def test_changed_nonce_or_timestamp_is_refused(doc: dict[str, JSONValue], header: str, new: str) -> None:
    assume(json_depth(doc) <= MAX_DEPTH)
    body = _dumps(doc, {})
    headers = _lower(rm_headers(body, _private_key()))
    assume(new != headers[header])
    assert _rm().refusal({**headers, header: new}, body) == "signature does not verify"


# --- b. normalizers raise nothing but NormalizeError -------------------------------------------------------

CURRENCY = re.compile(r"[A-Z]{3}")


def _vocabulary() -> list[str]:
    """Every event and status name the providers know, and the values they compare with."""
    words = {pivot_module.TEST_EVENT, "CHARGE.SUCCESS", "PAYMENT_WEB_ONLINE", "RECURRING_PAYMENT"}
    words |= {*pivot_module._PAYMENT_EVENTS, *pivot_module._REFUND_EVENTS, *rm_module._STATUSES}
    words |= {"SUCCESS", "EXPIRED", "ACTIVE", "PAID", "FAILED"}
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
    found = sorted(SAMPLES.glob(f"{provider}.*.json"))
    assert found, f"no samples for {provider}"
    return [json.loads(path.read_bytes()) for path in found]


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
            in_lists = [p for p in _paths(doc) if p and isinstance(_parent(doc, p), list)]
            if in_lists:
                path = draw(st.sampled_from(in_lists))
                parent = _parent(doc, path)
                parent.insert(int(path[-1]), copy.deepcopy(parent[path[-1]]))
            continue
        # Never the root: a body that is not the sample at all is test_normalize_arbitrary_json's business.
        paths = [p for p in _paths(doc) if p]
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        if how == "delete":
            del _parent(doc, path)[path[-1]]
        else:
            _parent(doc, path)[path[-1]] = draw(_tweaks(_node(doc, path)) if how == "tweak" else replacements)
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
    if event.amount is not None:
        assert isinstance(event.amount, Decimal)
        assert event.amount.is_finite() and event.amount >= 0, event.amount
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
    _normalizes_cleanly(provider, _dumps(doc, layout))


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

CALLBACK_HEADERS = ["x-api-key", "x-signature", "x-nonce-str", "x-timestamp", "content-type"]
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
header_values = st.one_of(header_text, long_text, forged_signatures, st.just(""), st.just(PIVOT_TEST_KEY + " "))
hostile_headers = st.dictionaries(
    st.one_of(st.sampled_from(CALLBACK_HEADERS), header_text), header_values, max_size=len(CALLBACK_HEADERS) + 2
)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


hostile_bodies = st.one_of(
    st.binary(max_size=1024),
    st.builds(_dumps, json_values, layouts),
    st.builds(lambda n: b"[" * n + b"]" * n, st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 100_000])),
    st.builds(_nested, st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 5_000])),
    st.sampled_from(ODD_BODIES),
)


def _authenticators() -> dict[str, Authenticator]:
    two_keys = public_pem(_private_key()) + public_pem(_other_key())
    return {
        "pivot": _pivot(),
        "pivot-rotation": _pivot(f"{PIVOT_TEST_KEY}, {'j' * 32}"),
        "revenue-monster": _rm(),
        "revenue-monster-skew": _rm(**{rm_module.SKEW_VARIABLE: "300"}),
        # A rotation: two keys configured, neither of which signs anything here, so nothing may verify.
        "revenue-monster-rotation": _rm_with(two_keys),
    }


def _rm_with(pem: str) -> RsaSignatureAuthenticator:
    auth = rm_module.configure({rm_module.KEY_VARIABLE: pem})
    assert auth is not None
    return auth


@pytest.mark.parametrize("name", sorted(_authenticators()))
@PROPERTY
@given(headers=hostile_headers, body=hostile_bodies)
def test_authenticators_refuse_hostile_input_without_raising(name: str, headers: dict[str, str], body: bytes) -> None:
    auth = _authenticators()[name]
    assume(headers.get("x-api-key") not in {PIVOT_TEST_KEY, "j" * 32})
    refusal = auth.refusal(headers, body)
    assert isinstance(refusal, str) and refusal
    assert PIVOT_TEST_KEY not in refusal  # a refusal names what was wrong, never the secret


@PROPERTY
@given(
    signature=st.one_of(st.binary(min_size=256, max_size=256), st.sampled_from([b"\0" * 256, b"\xff" * 256])),
    nonce=st.one_of(header_text, long_text),
    stamp=st.one_of(header_text, st.integers().map(str)),
    body=hostile_bodies,
)
def test_random_signatures_never_verify(signature: bytes, nonce: str, stamp: str, body: bytes) -> None:
    """Signatures of the right length go all the way to the RSA check; none of them verifies."""
    headers = {"x-signature": _signature("sha256", " ", signature), "x-nonce-str": nonce, "x-timestamp": stamp}
    refusal = _rm().refusal(headers, body)
    assert refusal is not None
    assert refusal == "signature does not verify" or refusal.startswith("body cannot be verified"), refusal


@PROPERTY
@given(doc=json_objects, nonce=header_text, stamp=st.integers(min_value=0, max_value=2**40).map(str))
def test_signature_by_another_key_is_refused(doc: dict[str, JSONValue], nonce: str, stamp: str) -> None:
    """A well-formed signature over exactly the right string, made with a key that is not Revenue Monster's."""
    assume(json_depth(doc) <= MAX_DEPTH)
    body = _dumps(doc, {})
    forged = _other_key().sign(signing_string(canonical_json(body), nonce, stamp), padding.PKCS1v15(), hashes.SHA256())
    headers = {"x-signature": _signature("sha256", " ", forged), "x-nonce-str": nonce, "x-timestamp": stamp}
    assert _rm().refusal(headers, body) == "signature does not verify"


near_keys = st.one_of(
    header_text,
    long_text,
    st.builds(lambda i, c: PIVOT_TEST_KEY[:i] + c + PIVOT_TEST_KEY[i + 1 :], st.integers(0, 31), st.characters()),
    st.sampled_from(
        [PIVOT_TEST_KEY[:-1], PIVOT_TEST_KEY + "k", PIVOT_TEST_KEY.upper(), f" {PIVOT_TEST_KEY}", f"{PIVOT_TEST_KEY}\t"]
    ),
)


@PROPERTY
@given(key=near_keys, body=hostile_bodies, extra=hostile_headers)
def test_pivot_refuses_any_other_key(key: str, body: bytes, extra: dict[str, str]) -> None:
    assume(key != PIVOT_TEST_KEY)
    refusal = _pivot().refusal({**extra, "x-api-key": key}, body)
    assert refusal == ("X-API-Key is wrong" if key else "X-API-Key is missing")


def test_pivot_accepts_its_key() -> None:
    """The properties above refuse everything: make sure it is not because nothing is ever accepted."""
    assert _pivot().refusal({"x-api-key": PIVOT_TEST_KEY}, b"") is None
    assert _pivot(f"{'j' * 32} {PIVOT_TEST_KEY}").refusal({"x-api-key": PIVOT_TEST_KEY}, b"") is None


# --- regressions: bugs these properties found, now fixed ---------------------------------------------


def test_pivot_charge_times_with_and_without_offset() -> None:
    body = {
        "event": "CHARGE.SUCCESS",
        "data": {"id": "s", "status": "ACTIVE", "chargeDetails": [{"id": "a", "paidAt": "2025-01-01T00:00:00"}, {}]},
    }
    _normalizes_cleanly("pivot", json.dumps(body).encode())


def test_rm_refusal_with_a_lone_surrogate_in_a_header() -> None:
    headers = {"x-signature": _signature("sha256", " ", b"\0" * 256), "x-nonce-str": "\ud800", "x-timestamp": "0"}
    assert isinstance(_rm().refusal(headers, b"{}"), str)
