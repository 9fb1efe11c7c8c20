"""Dependencies of the routers: the lifecycle manager (tests override :func:`get_lcm`)."""

from __future__ import annotations

from fastapi import Request

from ..lcm import Lcm

__all__ = ["get_lcm"]


def get_lcm(request: Request) -> Lcm:
    """The app's lifecycle manager (created at start-up, which recovers interrupted operations)."""
    return request.app.state.lcm  # type: ignore[no-any-return]
