"""Asking providers about payments and applying what they answer, exactly as a callback is applied: as a
canonical event (source ``api``) through the same deduplication, state machine and outbox, in the caller's
transaction, with every query recorded and the payment's next query planned."""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from shared.accounts import Environs
from shared.canonical import Outcome, Status
from shared.db import checks
from shared.db.apply import Item, Policy, apply_events
from shared.db.checks import Due
from shared.db.models import Payment
from shared.env import SettingsError
from shared.providers import all_providers
from shared.queue import QueuedCallback
from shared.reconcile.runtime import ApiRuntime
from shared.reconcile.schedule import NextCheck, after_query
from shared.sealing import Sealer
from shared.status_api import EXPECTED_PREFIX, Answer, PaymentRef, Source, Verdict
from shared.transitions import decide


class CheckResult(enum.StrEnum):
    UNCHANGED = "unchanged"
    # The provider's answer changed the payment: a callback was lost, or said something else.
    CORRECTED = "corrected"
    # The answer confirmed what a callback waiting for confirmation said.
    CONFIRMED = "confirmed"
    NOT_FOUND = "not_found"
    # Nothing learned (the API refused, failed, timed out or answered nonsense): asked again later.
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Checked:
    payment_id: int
    provider: str
    result: CheckResult
    provider_status: str
    status_before: Status
    status_after: Status


def reference(due: Due) -> PaymentRef:
    by_order_ref = due.payment_key.startswith(EXPECTED_PREFIX)
    return PaymentRef(
        due.provider,
        due.payment_key,
        due.order_ref,
        due.provider_payment_id,
        due.created_at,
        by_order_ref=by_order_ref,
    )


async def ask(runtime: ApiRuntime, environs: Environs, due: Sequence[Due]) -> list[Answer]:
    """Each payment's answer, asked concurrently (each provider's rate paces its own queries), with its
    account's credentials."""

    async def one(payment: Due) -> Answer:
        provider = all_providers().get(payment.provider)
        environ = None if provider is None else environs.environ(provider, payment.account)
        try:
            client = None if provider is None or environ is None else runtime.client(provider, environ, payment.account)
        except SettingsError as exc:  # this account's settings only: every other payment of the round is asked
            return Answer.unavailable(f"{payment.account}'s {payment.provider} status API settings: {exc}")
        if client is None:
            return Answer.unavailable(f"{payment.provider}'s status API is not configured for {payment.account}")
        return await client.status.query(reference(payment))

    return list(await asyncio.gather(*(one(payment) for payment in due)))


def settle(
    session: Session,
    answered: Sequence[tuple[Due, Answer]],
    *,
    reason: str,
    sealer: Sealer,
    policy: Policy,
    actor: str | None = None,
) -> list[Checked]:
    """Apply the answers in the caller's transaction; record each query; plan each payment's next one."""
    items: dict[int, Item] = {}
    owners: dict[int, int] = {}
    for due, answer in answered:
        owners[due.id] = due.id
        event = answer.event
        if answer.verdict is not Verdict.FOUND or event is None or event.status == due.status:
            continue
        owners[due.id] = _adopt(session, due, event.payment_key)
        received = QueuedCallback(due.provider, answer.raw, {}, policy.now, due.account)
        items[due.id] = Item(f"api-{uuid.uuid4().hex}", event, received, Source.API)
    applied = apply_events(session, list(items.values()), sealer, policy)
    after = _statuses(session, list(owners.values()))
    done: list[Checked] = []
    planned: list[tuple[int, NextCheck]] = []
    for due, answer in answered:
        owner = owners[due.id]
        item = items.get(due.id)
        outcome = None if item is None else applied.by_entry.get(item.entry_id)
        result = _result(answer, outcome, reason)
        status = after.get(owner, due.status)
        done.append(Checked(owner, due.provider, result, answer.provider_status, due.status, status))
        if outcome is not Outcome.APPLIED:  # an applied change planned the next query itself
            answered_ = answer.verdict is not Verdict.UNAVAILABLE
            planned.append((owner, after_query(
                status, due.step, answered=answered_, now=policy.now, schedule=policy.schedule,
                retry_after=answer.retry_after,
            )))  # fmt: skip
    checks.plan(session, planned)
    checks.record(
        session,
        [checks.Check(c.payment_id, reason, c.provider_status, c.result, c.status_before, c.status_after, actor)
         for c in done],
    )  # fmt: skip
    return done


def predict(answered: Sequence[tuple[Due, Answer]]) -> list[Checked]:
    """What ``settle`` would do, by the state machine alone, writing nothing (a dry run)."""
    predicted = []
    for due, answer in answered:
        status, result = due.status, _result(answer, None, "manual")
        if answer.verdict is Verdict.FOUND and answer.event is not None and answer.event.status != due.status:
            decision = decide(due.status, answer.event.status)
            status = decision.status
            result = CheckResult.CORRECTED if decision.outcome is Outcome.APPLIED else CheckResult.UNCHANGED
        predicted.append(Checked(due.id, due.provider, result, answer.provider_status, due.status, status))
    return predicted


def _result(answer: Answer, outcome: Outcome | None, reason: str) -> CheckResult:
    if answer.verdict is Verdict.UNAVAILABLE:
        return CheckResult.ERROR
    if answer.verdict is Verdict.NOT_FOUND:
        return CheckResult.NOT_FOUND
    if outcome is Outcome.APPLIED:
        return CheckResult.CONFIRMED if reason == "confirm" else CheckResult.CORRECTED
    return CheckResult.UNCHANGED


def _adopt(session: Session, due: Due, payment_key: str) -> int:
    """The payment an answer belongs to. An expected payment known by its reference takes the provider's own
    key; when a callback already made the payment under that key, the expected one is dropped for it."""
    if payment_key == due.payment_key:
        return due.id
    same = (Payment.provider == due.provider, Payment.account == due.account, Payment.payment_key == payment_key)
    existing = session.execute(select(Payment.id).where(*same)).scalar_one_or_none()
    if existing is not None:
        session.execute(delete(Payment).where(Payment.id == due.id))
        return existing
    session.execute(update(Payment).where(Payment.id == due.id).values(payment_key=payment_key))
    return due.id


def _statuses(session: Session, ids: list[int]) -> dict[int, Status]:
    rows = session.execute(select(Payment.id, Payment.status).where(Payment.id.in_(ids)))
    return {row.id: Status(row.status) for row in rows}
