"""The admin API's paths for payments, dead letters, bulk jobs and the audit trail."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shared.db import dead_letters as dlq
from shared.errors import error
from shared.ops.api.requests import actor_of, as_id, as_int, as_json, as_text
from shared.ops.service import OperatorService

Handler = Callable[[Request], Awaitable[Response]]
MAX_PAGE = 1000
# A replay of more letters than this, or any with background=true, runs as a job (202 with the job).
SYNC_LIMIT = 1000


def _filters(request: Request) -> dlq.Filters:
    return dlq.Filters.from_query(request.query_params)


class LetterRoutes:
    def __init__(self, ops: OperatorService) -> None:
        self.ops = ops

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/payments/{provider}/{order_ref}", self.payment, ["GET"]),
            ("/dead-letters", self.letters, ["GET"]),
            ("/dead-letters/replay", self.replay_matching, ["POST"]),
            ("/dead-letters/counts", self.letter_counts, ["GET"]),
            ("/dead-letters/purge", self.purge_matching, ["POST"]),
            ("/jobs", self.jobs, ["GET"]),
            ("/jobs/{job_id}", self.job, ["GET"]),
            ("/jobs/{job_id}/cancel", self.cancel_job, ["POST"]),
            ("/dead-letters/{letter_id}", self.letter_or_delete, ["GET", "DELETE"]),
            ("/dead-letters/{letter_id}/replay", self.replay_one, ["POST"]),
            ("/audit", self.audit, ["GET"]),
        ]

    async def letter_or_delete(self, request: Request) -> Response:
        return await (self.delete(request) if request.method == "DELETE" else self.letter(request))

    async def payment(self, request: Request) -> Response:
        provider = as_text(request.path_params["provider"], "provider") or ""
        order_ref = as_text(request.path_params["order_ref"], "order_ref") or ""
        account = as_text(request.query_params.get("account"), "account") or "default"
        document = await run_in_threadpool(self.ops.payment, provider, order_ref, account)
        return as_json(document) if document else error(404, "not_found", "no such payment")

    async def letters(self, request: Request) -> Response:
        filters = _filters(request)
        limit = as_int(request, "limit", 50, 1, MAX_PAGE)
        offset = as_int(request, "offset", 0, 0, 10**12)
        after = as_int(request, "after", 0, 0, 10**18) or None

        items = await run_in_threadpool(lambda: self.ops.letters(filters, limit=limit + 1, offset=offset, after=after))
        more = len(items) > limit
        page = items[:limit]
        return as_json(
            {
                "items": page,
                "next_after": page[-1]["id"] if more else None,
                "next_offset": offset + limit if more else None,
            }
        )

    async def letter_counts(self, request: Request) -> Response:
        filters = _filters(request)
        counts = await run_in_threadpool(self.ops.letter_counts, filters)
        return as_json({"by_reason": counts, "total": sum(counts.values())})

    async def letter(self, request: Request) -> Response:
        document = await run_in_threadpool(self.ops.letter, _path_id(request))
        return as_json(document) if document else error(404, "not_found", "no such dead letter")

    async def replay_one(self, request: Request) -> Response:
        letter_id, actor = _path_id(request), actor_of(request)
        if _dry_run(request):
            predicted = await run_in_threadpool(lambda: self.ops.dry_run([letter_id], actor=actor))
            if not predicted["letters"]:
                return error(404, "not_found", "no such dead letter waiting")
            return as_json({"dry_run": True, **predicted})
        done = await run_in_threadpool(lambda: self.ops.replay([letter_id], actor=actor))
        return as_json({"replayed": done}) if done else error(404, "not_found", "no such dead letter waiting")

    async def replay_matching(self, request: Request) -> Response:
        filters, actor = _filters(request), actor_of(request)
        if _flag(request, "background"):
            return await self._start_job("replay", filters, actor)
        ids = await run_in_threadpool(self.ops.matching, filters)
        if len(ids) > SYNC_LIMIT and not _dry_run(request):
            return await self._start_job("replay", filters, actor)
        if _dry_run(request):
            predicted = await run_in_threadpool(lambda: self.ops.dry_run(ids, actor=actor, filters=filters))
            return as_json({"dry_run": True, "would_replay": ids, **predicted})
        done = await run_in_threadpool(lambda: self.ops.replay(ids, actor=actor, filters=filters))
        return as_json({"dry_run": False, "replayed": done})

    async def purge_matching(self, request: Request) -> Response:
        filters = dataclasses.replace(_filters(request), include_replayed=True)
        return await self._start_job("purge", filters, actor_of(request))

    async def _start_job(self, kind: str, filters: dlq.Filters, actor: str) -> Response:
        job, created = await run_in_threadpool(lambda: self.ops.start_job(kind, filters, actor=actor))
        return as_json({"job": job, "created": created}, status=202)

    async def jobs(self, request: Request) -> Response:
        return as_json({"items": await run_in_threadpool(self.ops.jobs)})

    async def job(self, request: Request) -> Response:
        found = await run_in_threadpool(self.ops.job, as_id(request.path_params["job_id"], "a job"))
        return as_json(found) if found else error(404, "not_found", "no such job")

    async def cancel_job(self, request: Request) -> Response:
        job_id, actor = as_id(request.path_params["job_id"], "a job"), actor_of(request)
        found = await run_in_threadpool(lambda: self.ops.cancel_job(job_id, actor=actor))
        return as_json(found) if found else error(404, "not_found", "no such job")

    async def delete(self, request: Request) -> Response:
        removed = await run_in_threadpool(lambda: self.ops.purge([_path_id(request)], actor=actor_of(request)))
        return Response(status_code=204) if removed else error(404, "not_found", "no such dead letter")

    async def audit(self, request: Request) -> Response:
        limit = as_int(request, "limit", 50, 1, MAX_PAGE)
        before = as_int(request, "before", 0, 0, 10**18) or None
        items = await run_in_threadpool(lambda: self.ops.audit(limit=limit + 1, before=before))
        more = len(items) > limit
        return as_json({"items": items[:limit], "next_before": items[limit - 1]["id"] if more else None})


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in {"1", "true", "yes"}


def _dry_run(request: Request) -> bool:
    return _flag(request, "dry_run")


def _path_id(request: Request) -> int:
    return as_id(request.path_params["letter_id"], "a dead-letter")
