"""The console's records of what happened: deliveries (each opens its attempts), conflicts, bulk jobs and the
audit trail."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.canonical import DeliveryStatus
from shared.db.outbox import DeliveryFilters
from shared.ops.console.base import ConsoleBase, back, number, path_number
from shared.ops.console.session import ConsoleSession


def delivery_status(given: str | None) -> DeliveryStatus | None:
    try:
        return DeliveryStatus(given) if given else None
    except ValueError:
        return None


class ActivityPages(ConsoleBase):
    async def conflicts(self, request: Request, session: ConsoleSession) -> Response:
        found = await run_in_threadpool(lambda: self.ops.conflicts(limit=200))
        return self.render(request, session, "conflicts.html", conflicts=found)

    async def deliveries(self, request: Request, session: ConsoleSession) -> Response:
        status = delivery_status(request.query_params.get("status"))
        endpoint = number(request.query_params.get("endpoint"))
        found, endpoints = await run_in_threadpool(
            lambda: (self.ops.deliveries(DeliveryFilters(endpoint, status), limit=100), self.ops.endpoints())
        )
        return self.render(
            request, session, "deliveries.html", deliveries=found, endpoints=endpoints, status=status, endpoint=endpoint
        )

    async def delivery(self, request: Request, session: ConsoleSession) -> Response:
        """One delivery with every attempt: when, how long, the answer's status and first KB, or the error."""
        delivery_id = path_number(request, "delivery_id")
        found = await run_in_threadpool(self.ops.delivery, delivery_id) if delivery_id else None
        if found is None:
            return self.problem(request, 404, "Not found", "No such delivery.", session)
        return self.render(request, session, "delivery.html", delivery=found)

    async def retry(self, request: Request, session: ConsoleSession) -> Response:
        delivery_id = path_number(request, "delivery_id") or 0
        done = await run_in_threadpool(lambda: self.ops.retry_deliveries([delivery_id], actor=session.actor))
        return back(f"/console/deliveries/{delivery_id}", "retried" if done else "not-retried")

    async def jobs(self, request: Request, session: ConsoleSession) -> Response:
        return self.render(request, session, "jobs.html", jobs=await run_in_threadpool(self.ops.jobs))

    async def job(self, request: Request, session: ConsoleSession) -> Response:
        job_id = path_number(request, "job_id")
        job = await run_in_threadpool(self.ops.job, job_id) if job_id else None
        if job is None:
            return self.problem(request, 404, "Not found", "No such job.", session)
        return self.render(request, session, "job.html", job=job)

    async def cancel(self, request: Request, session: ConsoleSession) -> Response:
        job_id = path_number(request, "job_id") or 0
        await run_in_threadpool(lambda: self.ops.cancel_job(job_id, actor=session.actor))
        return back(f"/console/jobs/{job_id}", "cancelled")

    async def audit(self, request: Request, session: ConsoleSession) -> Response:
        entries = await run_in_threadpool(lambda: self.ops.audit(limit=200))
        return self.render(request, session, "audit.html", entries=entries)
