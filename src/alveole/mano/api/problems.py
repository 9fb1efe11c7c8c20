"""Errors as RFC 7807 problem details (what SOL005 returns), with the field paths of refused input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ...errors import AlveoleError
from ..errors import ConflictError, DescriptorError, ManoError, NotFoundError

__all__ = ["install_handlers", "problem"]


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DescriptorError)
    async def _invalid(_: Request, e: DescriptorError) -> JSONResponse:
        fields = [{"field": loc, "problem": msg} for loc, msg in e.errors]
        return problem(422, f"invalid {e.what}", str(e), invalidFields=fields)

    @app.exception_handler(NotFoundError)
    async def _missing(_: Request, e: NotFoundError) -> JSONResponse:
        return problem(404, f"no such {e.kind}", str(e))

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, e: ConflictError) -> JSONResponse:
        return problem(409, "conflict", str(e))

    @app.exception_handler(ManoError)
    async def _mano(_: Request, e: ManoError) -> JSONResponse:
        return problem(400, type(e).__name__, str(e))

    @app.exception_handler(AlveoleError)
    async def _alveole(_: Request, e: AlveoleError) -> JSONResponse:
        return problem(500, type(e).__name__, str(e))
