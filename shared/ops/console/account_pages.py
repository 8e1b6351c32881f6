"""The console's accounts: the stored accounts of every provider, one account with its settings' fingerprints
(never a secret), and disabling or enabling it (audited, and announced to every process)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.ops.audit import Refused
from shared.ops.console.base import ConsoleBase, back
from shared.ops.console.session import ConsoleSession


class AccountPages(ConsoleBase):
    async def accounts(self, request: Request, session: ConsoleSession) -> Response:
        found = await run_in_threadpool(self.ops.accounts)
        return self.render(request, session, "accounts.html", accounts=found)

    async def account(self, request: Request, session: ConsoleSession) -> Response:
        provider, name = request.path_params["provider"], request.path_params["name"]
        found = await run_in_threadpool(self.ops.account, provider, name)
        if found is None:
            return self.problem(request, 404, "Not found", f"{provider} has no stored account {name!r}.", session)
        return self.render(request, session, "account.html", account=found)

    async def disable(self, request: Request, session: ConsoleSession) -> Response:
        return await self._set_enabled(request, session, enabled=False)

    async def enable(self, request: Request, session: ConsoleSession) -> Response:
        return await self._set_enabled(request, session, enabled=True)

    async def _set_enabled(self, request: Request, session: ConsoleSession, *, enabled: bool) -> Response:
        provider, name = request.path_params["provider"], request.path_params["name"]
        try:
            await run_in_threadpool(lambda: self.ops.set_account_enabled(provider, name, enabled, actor=session.actor))
        except Refused as exc:
            return self.problem(request, 404, "Not changed", str(exc), session)
        return back(f"/console/accounts/{provider}/{name}", "enabled" if enabled else "disabled")
