"""The console's dead letters: the filtered list with counts by reason, one letter, dry runs, replays and purges
(of one letter, or of every letter a filter selects, as a background job)."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shared.db import dead_letters as dlq
from shared.ops.console.base import PAGE, ConsoleBase, back, field, number, path_number, query
from shared.ops.console.session import ConsoleSession


def letter_filters(source: Any) -> dlq.Filters:
    """The form's (or the page's query's) filters; text is trimmed, a time that does not parse is left out."""
    return dlq.Filters.from_query(source, forgiving=True)


class LetterPages(ConsoleBase):
    async def letters(self, request: Request, session: ConsoleSession) -> Response:
        filters = letter_filters(request.query_params)
        after = number(request.query_params.get("after"))
        letters, counts = await run_in_threadpool(
            lambda: (self.ops.letters(filters, limit=PAGE + 1, after=after), self.ops.letter_counts(filters))
        )
        more = len(letters) > PAGE
        letters = letters[:PAGE]
        next_page = query(request, after=letters[-1]["id"]) if more else None
        return self.render(
            request,
            session,
            "letters.html",
            letters=letters,
            counts=counts,
            filters=filters.to_query(),
            next_page=next_page,
            total=sum(counts.values()),
        )

    async def letter(
        self, request: Request, session: ConsoleSession, prediction: dict[str, Any] | None = None
    ) -> Response:
        letter_id = path_number(request, "letter_id")
        letter = await run_in_threadpool(self.ops.letter, letter_id) if letter_id else None
        if letter is None:
            return self.problem(request, 404, "Not found", "No such dead letter: purged, or never there.", session)
        return self.render(request, session, "letter.html", letter=letter, prediction=prediction)

    async def dry_run_one(self, request: Request, session: ConsoleSession) -> Response:
        letter_id = path_number(request, "letter_id") or 0
        report = await run_in_threadpool(lambda: self.ops.dry_run([letter_id], actor=session.actor))
        prediction = report["letters"][0] if report["letters"] else {"predicted": "not waiting"}
        return await self.letter(request, session, prediction)

    async def replay_one(self, request: Request, session: ConsoleSession) -> Response:
        letter_id = path_number(request, "letter_id") or 0
        done = await run_in_threadpool(lambda: self.ops.replay([letter_id], actor=session.actor))
        return back(f"/console/dead-letters/{letter_id}", "replayed" if done else "not-waiting")

    async def purge_one(self, request: Request, session: ConsoleSession) -> Response:
        letter_id = path_number(request, "letter_id") or 0
        removed = await run_in_threadpool(lambda: self.ops.purge([letter_id], actor=session.actor))
        return back("/console/dead-letters", "purged" if removed else "not-waiting")

    async def dry_run_all(self, request: Request, session: ConsoleSession) -> Response:
        filters = letter_filters(await request.form())
        report = await run_in_threadpool(
            lambda: self.ops.dry_run(self.ops.matching(filters), actor=session.actor, filters=filters)
        )
        return self.render(request, session, "dry_run.html", report=report, filters=filters.to_query())

    async def replay_all(self, request: Request, session: ConsoleSession) -> Response:
        return await self._job(request, session, "replay")

    async def purge_all(self, request: Request, session: ConsoleSession) -> Response:
        form = await request.form()
        if field(form, "confirm") != "purge":
            return self.problem(
                request, 400, "Not purged", "Tick the box to confirm a purge: it deletes letters for good.", session
            )
        return await self._job(request, session, "purge")

    async def _job(self, request: Request, session: ConsoleSession, kind: str) -> Response:
        filters = letter_filters(await request.form())
        if kind == "purge":
            filters = dataclasses.replace(filters, include_replayed=True)
        job, _ = await run_in_threadpool(lambda: self.ops.start_job(kind, filters, actor=session.actor))
        return RedirectResponse(f"/console/jobs/{job['id']}", status_code=303)
