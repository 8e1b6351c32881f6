"""``payhook accounts ...``: merchant accounts, each one set of a provider's credentials, managed while payhook
runs. Credentials are given as ``KEY=VALUE`` (``KEY`` a provider setting's name without ``PAYHOOK_`` and the
provider's prefix, lower-cased; ``VALUE`` may be ``@PATH`` to read a file); secrets are never shown back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shared.ops.cli.support import PROVIDER, actor_name, actor_option, emit, fail, operator_service, reports_failures
from shared.ops.render import table, terminal, when

# The largest file a KEY=@PATH value may name (a PEM key is a few KiB).
MAX_VALUE_BYTES = 64 * 1024


def _pairs(given: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, item in enumerate(given, 1):
        key, sep, value = item.partition("=")
        if not sep or not key:
            # Not echoed: a credential typed without its name (or with ':') is the secret itself.
            fail(f"credential {number} is not KEY=VALUE (or KEY=@PATH); it is not shown, it may be a secret")
        name = key.strip().lower()
        if name in pairs:
            fail(f"{name} is given twice: give each setting once")
        if value.startswith("@"):
            value = _read(key, value[1:])
        pairs[name] = value
    return pairs


def _read(key: str, path: str) -> str:
    """The value in the file ``path`` names (``KEY=@PATH``); a path that reads as no text is one clear line."""
    if not path:
        fail(f"{key}=@ names no file: give {key}=@PATH")
    try:
        with Path(path).open("rb") as read:
            # Read no further than a credential can be: @/dev/zero or a mistaken archive must not fill memory.
            content = read.read(MAX_VALUE_BYTES + 1)
        if len(content) > MAX_VALUE_BYTES:
            fail(f"{key}: {path!r} is over {MAX_VALUE_BYTES // 1024} KiB: not a key or secret (the wrong file?)")
        return content.decode("utf-8").strip()
    except OSError as exc:
        fail(f"{key}: cannot read {path!r}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        # A DER key or any binary file: the settings are text (a PEM key, a secret string).
        fail(f"{key}: {path!r} is not UTF-8 text (a binary file? keys are given as text, e.g. PEM)")
    return ""


def _print(document: dict[str, Any]) -> None:
    rows = [(key, value) for key, value in document["settings"].items()]
    rows += [(key, f"{value} (the provider's)") for key, value in document.get("inherited", {}).items()]
    state = "enabled" if document["enabled"] else "disabled"
    title = f"{document['provider']} account {document['name']} ({state}), callbacks at {document['route']}"
    caption = f"previous credentials valid until {document['previous_valid_until']}" if document[
        "previous_valid_until"
    ] else None  # fmt: skip
    terminal().print(table(title, ("setting", "value (secrets by fingerprint)"), rows, caption=caption))


@click.group("accounts")
def accounts() -> None:
    """Merchant accounts of each provider (the settings' own credentials are each provider's 'default')."""


@accounts.command("add")
@click.argument("provider", type=PROVIDER)
@click.argument("name")
@click.argument("credentials", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="one JSON document on stdout")
@actor_option
@reports_failures
def accounts_add(provider: str, name: str, credentials: tuple[str, ...], as_json: bool, actor: str | None) -> None:
    """Add an account: its callbacks arrive at /callbacks/PROVIDER/NAME."""
    with operator_service() as ops:
        document = ops.add_account(provider, name, _pairs(credentials), actor=actor_name(actor))
    emit(document) if as_json else _print(document)


@accounts.command("list")
@click.option("--provider", type=PROVIDER, help="only this provider's accounts")
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def accounts_list(provider: str | None, as_json: bool) -> None:
    """The stored accounts (each provider's 'default' is its settings)."""
    with operator_service() as ops:
        found = ops.accounts(provider)
    if as_json:
        emit(found)
        return
    rows = [
        (a["provider"], a["name"], "enabled" if a["enabled"] else "disabled", a["route"], when(a["updated_at"]))
        for a in found
    ]
    caption = None if found else "no stored accounts: each provider has its 'default' from the settings"
    terminal().print(table("Accounts", ("provider", "name", "state", "callbacks at", "changed"), rows, caption=caption))


@accounts.command("show")
@click.argument("provider", type=PROVIDER)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@reports_failures
def accounts_show(provider: str, name: str, as_json: bool) -> None:
    """One account: its settings, secrets by fingerprint."""
    with operator_service() as ops:
        document = ops.account(provider, name)
    if document is None:
        fail(f"{provider} has no stored account {name!r}")
        return
    emit(document) if as_json else _print(document)


@accounts.command("rotate")
@click.argument("provider", type=PROVIDER)
@click.argument("name")
@click.argument("credentials", nargs=-1, required=True)
@click.option("--keep-previous", type=click.FloatRange(0), default=86400.0, show_default=True,
              help="seconds the replaced credentials stay valid for callbacks (0: at once)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@actor_option
@reports_failures
def accounts_rotate(
    provider: str, name: str, credentials: tuple[str, ...], keep_previous: float, as_json: bool, actor: str | None
) -> None:
    """New values for some settings (a leaked key); the old ones keep working for --keep-previous seconds."""
    with operator_service() as ops:
        document = ops.rotate_account(
            provider, name, _pairs(credentials), actor=actor_name(actor), keep_previous=keep_previous
        )
    emit(document) if as_json else _print(document)


def _switch(provider: str, name: str, enabled: bool, actor: str | None) -> None:
    with operator_service() as ops:
        ops.set_account_enabled(provider, name, enabled, actor=actor_name(actor))
    click.echo(f"{provider} account {name} {'enabled' if enabled else 'disabled'}")


@accounts.command("disable")
@click.argument("provider", type=PROVIDER)
@click.argument("name")
@actor_option
@reports_failures
def accounts_disable(provider: str, name: str, actor: str | None) -> None:
    """Refuse the account's callbacks (404) until it is enabled again."""
    _switch(provider, name, False, actor)


@accounts.command("enable")
@click.argument("provider", type=PROVIDER)
@click.argument("name")
@actor_option
@reports_failures
def accounts_enable(provider: str, name: str, actor: str | None) -> None:
    """Take the account's callbacks again."""
    _switch(provider, name, True, actor)


@accounts.command("remove")
@click.argument("provider", type=PROVIDER)
@click.argument("name")
@actor_option
@reports_failures
def accounts_remove(provider: str, name: str, actor: str | None) -> None:
    """Forget the account (its payments stay, under its name)."""
    with operator_service() as ops:
        kept = ops.remove_account(provider, name, actor=actor_name(actor))
    said = f"{provider} account {name} removed"
    if kept:
        said += (
            f"; {'its payment stays' if kept == 1 else f'its {kept} payments stay'} under its name"
            f" (payments show ... --account {name});"
            f" an account added again as {name} holds them again"
        )
    click.echo(said)
