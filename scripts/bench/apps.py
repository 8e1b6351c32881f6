"""The baselines, served with the receiver's own uvicorn settings.

- ``bare``: reads the body and answers 200; the ceiling of the HTTP stack itself.
- ``peer``: the receiver most teams write first: parse the JSON, ``delay()`` a Celery task per request.
- ``peer_celery``: its Celery app, whose no-op task also gives the one-task-per-callback ceiling.
- ``endpoint``: a webhook endpoint for the outbox's figures: reads the body of any POST, answers 200 with an
  empty body. Plain ASGI, no framework: its cost should be the HTTP stack's alone.
"""

from __future__ import annotations

import json
import os

from celery import Celery
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

PEER_QUEUE = "payhook-bench-peer"

peer_celery = Celery("peer", broker=os.environ.get("PAYHOOK_REDIS_URL", "redis://127.0.0.1:6379/0"))
peer_celery.conf.update(task_default_queue=PEER_QUEUE, task_ignore_result=True, worker_hijack_root_logger=False)


@peer_celery.task(name="peer.process_callback")  # type: ignore[untyped-decorator]
def process_callback(payload: object) -> None:
    """A no-op: what remains is Celery's own cost per message."""


async def _bare(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _peer(request: Request) -> Response:
    payload = json.loads(await request.body())
    process_callback.delay(payload)
    return JSONResponse({"status": "queued"})


bare = Starlette(routes=[Route("/callbacks/{provider}", _bare, methods=["POST"])])
peer = Starlette(routes=[Route("/callbacks/{provider}", _peer, methods=["POST"])])


async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            if message["type"] == "lifespan.shutdown":
                return
    while (await receive()).get("more_body", False):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
