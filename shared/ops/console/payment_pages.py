"""The console's payments: list and search (provider, account, status, order-reference prefix, time range) in
keyset pages; one payment with its events and its queries; ``Check with provider`` (a reconciliation, audited);
and the unresolved payments."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.db.payment_search import PaymentSearch
from shared.ops.audit import Refused
from shared.ops.console.base import PAGE, ConsoleBase, field, number, query
from shared.ops.console.session import ConsoleSession
from shared.queue import DEFAULT_ACCOUNT


def payment_link(provider: str, account: str | None, reference: str) -> str:
    """The page of one payment."""
    values = {"provider": provider, "account": account or DEFAULT_ACCOUNT, "order_ref": reference}
    return "/console/payments/show?" + urlencode(values)


def _clean(raw: str | None) -> str:
    return (raw or "").strip().replace("\x00", "")[:255]


class PaymentPages(ConsoleBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.templates.env.globals["payment_link"] = payment_link

    async def payments(self, request: Request, session: ConsoleSession) -> Response:
        """The search; given a provider and a whole order reference, that payment opens above the list."""
        filters = PaymentSearch.from_query(request.query_params)
        before = number(request.query_params.get("before"))
        exact = None
        if filters.provider and filters.order_ref:
            account = filters.account or DEFAULT_ACCOUNT
            exact = await run_in_threadpool(self.ops.payment, filters.provider, filters.order_ref, account)
        found = await run_in_threadpool(lambda: self.ops.search_payments(filters, limit=PAGE + 1, before=before))
        more = len(found) > PAGE
        found = found[:PAGE]
        return self.render(
            request,
            session,
            "payments.html",
            payments=found,
            filters=filters.to_query(),
            exact=exact,
            next_page=query(request, before=found[-1]["id"]) if more else None,
            first_page=query(request, before="") if before else None,
        )

    async def payment(self, request: Request, session: ConsoleSession) -> Response:
        return await self._show(request, session, dict(request.query_params), None)

    async def check(self, request: Request, session: ConsoleSession) -> Response:
        """``Check with provider``: ask the provider's status API now and apply what it says (audited)."""
        form = await request.form()
        given = {name: _clean(field(form, name)) for name in ("provider", "account", "order_ref")}
        account = given["account"] or DEFAULT_ACCOUNT

        def ask() -> dict[str, Any]:
            try:
                return self.ops.reconcile(given["provider"], given["order_ref"], actor=session.actor, account=account)
            except Refused as exc:
                return {"refused": str(exc)}
            except RedisError:
                return {"refused": "Redis cannot be reached: the provider's rate limit lives there; try again"}

        return await self._show(request, session, given, await run_in_threadpool(ask))

    async def _show(
        self, request: Request, session: ConsoleSession, given: dict[str, Any], checked: dict[str, Any] | None
    ) -> Response:
        provider, reference = _clean(given.get("provider")), _clean(given.get("order_ref"))
        account = _clean(given.get("account")) or DEFAULT_ACCOUNT
        payment = await run_in_threadpool(self.ops.payment, provider, reference, account) if reference else None
        if payment is None:
            detail = f"No {provider} payment with order reference {reference} in account {account}."
            return self.problem(request, 404, "No such payment", detail, session)
        return self.render(request, session, "payment.html", payment=payment, checked=checked)

    async def unresolved(self, request: Request, session: ConsoleSession) -> Response:
        provider = _clean(request.query_params.get("provider")) or None
        found = await run_in_threadpool(lambda: self.ops.unresolved(provider=provider, limit=200))
        return self.render(request, session, "unresolved.html", payments=found, provider=provider)
