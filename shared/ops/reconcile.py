"""Reconciliation by hand: ask a provider about one payment now (and apply, or only show, what it says); expect
a payment the merchant created, so that one whose every callback is lost is still found; list what stays
unresolved. Every change is recorded in the audit trail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select

from shared.accounts import Environs
from shared.canonical import Status
from shared.connections import Connections
from shared.db import accounts as accounts_table
from shared.db import checks
from shared.db.apply import Policy
from shared.db.checks import Due
from shared.db.models import Payment
from shared.db.payments import find_payment
from shared.ops.audit import Refused, audited
from shared.ops.documents import unresolved_document
from shared.providers import Provider, all_providers
from shared.queue import route
from shared.reconcile.engine import Checked, CheckResult, predict, reference, settle
from shared.reconcile.runtime import ApiRuntime
from shared.reconcile.schedule import after_change
from shared.status_api import Answer


class ReconcileService(Connections):
    def queried_provider(self, name: str) -> Provider:
        """The provider, refused unless its status API has credentials in the environment."""
        return self._queried(name)[0]

    def _queried(self, name: str, account: str = "default") -> tuple[Provider, Mapping[str, str]]:
        """The provider and the account's environment, refused unless its status API has credentials there."""
        provider = all_providers().get(name)
        if provider is None:
            raise Refused(f"unknown provider {name!r} ({', '.join(sorted(all_providers()))})")
        with self.session() as session:
            stored = accounts_table.load(session, self.sealer) if account != "default" else []
        environ = Environs.of_accounts(self.settings.environ, stored).environ(provider, account)
        if environ is None:
            raise Refused(f"{name} has no account {account!r}")
        api = provider.status_api
        if api is None or not api.configured(environ):
            needs = ", ".join(api.settings) if api is not None else "a status API"
            said = "" if account == "default" else f" for account {account!r}"
            raise Refused(f"{name}'s status API is not configured{said} ({needs}): its payments are not reconciled")
        return provider, environ

    def reconcile(
        self, provider: str, reference_: str, *, actor: str, dry_run: bool = False, account: str = "default"
    ) -> dict[str, Any]:
        """Ask ``provider`` about the payment now; apply its answer unless ``dry_run``. The answer: the provider's
        status beside payhook's, and ``result`` (unchanged, corrected, not_found, error)."""
        chosen, environ = self._queried(provider, account)
        with self.session() as session:
            found = find_payment(session, provider, reference_, account)
            if found is None:
                said = "" if account == "default" else f" in account {account!r}"
                raise Refused(f"no {provider} payment {reference_!r}{said} (`payhook payments expect` registers one)")
            due = Due(found.id, provider, found.payment_key, found.order_ref, found.provider_payment_id,
                      found.created_at, Status(found.status), found.check_step, "manual", account)  # fmt: skip
        answer = asyncio.run(self._ask(chosen, environ, due))
        target = f"{provider}:{reference_}"
        with audited(self, actor, "reconcile", target=target, dry_run=dry_run) as (session, result):
            if dry_run:
                (checked,) = predict([(due, answer)])
            else:
                policy = Policy(self.settings.reconcile_schedule)
                (checked,) = settle(session, [(due, answer)], reason="manual", sealer=self.sealer, policy=policy,
                                    actor=actor)  # fmt: skip
            result.text = f"{checked.result}: {answer.provider_status}"[:200]
            result.count = int(checked.result is CheckResult.CORRECTED)
        if checked.result is CheckResult.CORRECTED and not dry_run:
            self.doorbell.ring_deliveries()
        return _answer_document(found.order_ref or reference_, checked, dry_run)

    async def _ask(self, provider: Provider, environ: Mapping[str, str], due: Due) -> Answer:
        runtime = ApiRuntime(
            self.settings.redis_url, self.keys.prefix, self.sealer,
            rate=self.settings.provider_api_rate, timeout=self.settings.provider_api_timeout_seconds,
        )  # fmt: skip
        async with runtime:
            client = runtime.client(provider, environ, due.account)
            assert client is not None
            return await client.status.query(reference(due))

    def expect(
        self, provider: str, order_ref: str, *, actor: str, payment_id: str | None = None,
        amount: str | None = None, currency: str | None = None, account: str = "default",
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """Register a payment the merchant created, as pending and asked about on the schedule; one that exists
        already is left as it is (False)."""
        with audited(self, actor, "expect", target=f"{route(provider, account)}:{order_ref}") as (session, result):
            key, money = _identity(provider, order_ref, payment_id), _money(amount, currency)
            same = or_(Payment.payment_key == key, Payment.order_ref == order_ref)
            mine = (Payment.provider == provider, Payment.account == account, same)
            existing = session.execute(select(Payment).where(*mine).limit(1)).scalar()
            created = existing is None
            if existing is None:
                existing = _expected(provider, key, order_ref, payment_id, money, self.settings.reconcile_schedule)
                existing.account = account
                session.add(existing)
                session.flush()
            result.text, result.count = ("expected" if created else "exists: nothing changed"), int(created)
            return {"provider": provider, "order_ref": existing.order_ref, "payment_key": existing.payment_key,
                    "status": str(existing.status), "created": created, "account": account}, created  # fmt: skip

    def unresolved(self, *, provider: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.session() as session:
            found = checks.unresolved(session, provider, limit)
            return [unresolved_document(p, checks.history(session, p.id, limit=1)) for p in found]


def _identity(provider: str, order_ref: str, payment_id: str | None) -> str:
    """The payment key an expected payment gets, by its provider's rule."""
    chosen = all_providers().get(provider)
    if chosen is None or chosen.status_api is None:
        raise Refused(f"unknown provider {provider!r} ({', '.join(sorted(all_providers()))})")
    try:
        return chosen.status_api.expected_key(order_ref, payment_id)
    except ValueError as exc:
        raise Refused(str(exc)) from None


def _money(amount: str | None, currency: str | None) -> tuple[Decimal, str] | None:
    if amount is None and currency is None:
        return None
    if amount is None or currency is None:
        raise Refused("give the amount and its currency together")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise Refused(f"amount must be a decimal number, got {amount[:40]!r}") from None
    if not value.is_finite() or value < 0:
        raise Refused(f"amount must be a decimal number, got {amount[:40]!r}")
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise Refused(f"currency must be an ISO 4217 code such as IDR, got {currency[:10]!r}")
    return value, currency.upper()


def _expected(
    provider: str, key: str, order_ref: str, payment_id: str | None, money: tuple[Decimal, str] | None,
    schedule: tuple[float, ...],
) -> Payment:  # fmt: skip
    planned = after_change(Status.PENDING, time.time(), schedule)
    assert planned.at is not None
    return Payment(
        provider=provider, payment_key=key, order_ref=order_ref, status=Status.PENDING, provider_payment_id=payment_id,
        amount=money[0] if money else None, currency=money[1] if money else None, expected_at=func.now(),
        next_check_at=func.to_timestamp(planned.at), check_reason="schedule",
    )  # fmt: skip


def _answer_document(order_ref: str, checked: Checked, dry_run: bool) -> dict[str, Any]:
    return {
        "provider": checked.provider,
        "order_ref": order_ref,
        "provider_status": checked.provider_status,
        "status": str(checked.status_after),
        "previous_status": str(checked.status_before),
        "result": str(checked.result),
        "dry_run": dry_run,
    }
