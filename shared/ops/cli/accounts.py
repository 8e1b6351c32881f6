"""``payhook accounts ...``: merchant accounts, each one set of a provider's credentials, managed while payhook
runs. Credentials are given as ``KEY=VALUE`` (``KEY`` a provider setting's name without ``PAYHOOK_`` and the
provider's prefix, lower-cased; ``VALUE`` may be ``@PATH`` to read a file); secrets are never shown back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shared.ops.cli.support import actor_name, actor_option, emit, fail, operator_service, reports_failures
from shared.ops.render import table, terminal, when


def _pairs(given: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, item in enumerate(given, 1):
        key, sep, value = item.partition("=")
        if not sep or not key:
            # Not echoed: a credential typed without its name (or with ':') is the secret itself.
            fail(f"credential {number} is not KEY=VALUE (or KEY=@PATH); it is not shown, it may be a secret")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text().strip()
            except OSError as exc:
                fail(f"{key}: cannot read {value[1:]!r}: {exc.strerror}")
        pairs[key.strip().lower()] = value
    return pairs


def _print(document: dict[str, Any]) -> None:
    rows = [(key, value) for key, value in document["settings"].items()]
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
@click.argument("provider")
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
@click.option("--provider", help="only this provider's accounts")
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
@click.argument("provider")
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
@click.argument("provider")
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
@click.argument("provider")
@click.argument("name")
@actor_option
@reports_failures
def accounts_disable(provider: str, name: str, actor: str | None) -> None:
    """Refuse the account's callbacks (404) until it is enabled again."""
    _switch(provider, name, False, actor)


@accounts.command("enable")
@click.argument("provider")
@click.argument("name")
@actor_option
@reports_failures
def accounts_enable(provider: str, name: str, actor: str | None) -> None:
    _switch(provider, name, True, actor)


@accounts.command("remove")
@click.argument("provider")
@click.argument("name")
@actor_option
@reports_failures
def accounts_remove(provider: str, name: str, actor: str | None) -> None:
    """Forget the account (its payments stay, under its name)."""
    with operator_service() as ops:
        ops.remove_account(provider, name, actor=actor_name(actor))
    click.echo(f"{provider} account {name} removed")
