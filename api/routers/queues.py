"""Queue routes (seed 000 §5)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import CurrentPrincipal, Ctx, RequestId
from api.envelope import success
from api import writes
from schemas.api.common import Envelope
from schemas.api.queues import QueueCreateRequest, QueueView

router = APIRouter(prefix="/queues", tags=["queues"])


@router.post("", status_code=201, response_model=Envelope[QueueView], summary="Create a queue")
async def create_queue(body: QueueCreateRequest, ctx: Ctx, principal: CurrentPrincipal, request_id: RequestId) -> Response:
    view = await writes.create_queue(ctx, principal, body, request_id)
    return success(view, request_id, message="Queue created successfully", status_code=201)
