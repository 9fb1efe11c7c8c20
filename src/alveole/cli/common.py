"""Shared CLI plumbing: one console, JSON output, errors printed without tracebacks."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from ..errors import AlveoleError, VerifierError

console = Console()
err_console = Console(stderr=True)

__all__ = ["console", "err_console", "fail_on_errors", "print_json"]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def fail_on_errors() -> Iterator[None]:
    """Turn alveole errors into a red message and exit code 1 (no traceback)."""
    try:
        yield
    except VerifierError as e:
        err_console.print(f"[red]error:[/] {e}")
        err_console.print("[dim]verifier log (last lines):[/]")
        for line in e.log.strip().splitlines()[-15:]:
            err_console.print(f"  [dim]{line}[/]", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except (AlveoleError, FileNotFoundError, LookupError) as e:
        err_console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run a CLI command inside :func:`fail_on_errors`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fail_on_errors():
            return fn(*args, **kwargs)

    return wrapper
