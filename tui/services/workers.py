"""How a service runs long work: in a worker owned by the App (switching modes never cancels or restarts it), its
outcome posted to the App as a message, an error turned into one line for a person (the traceback goes to the log).

Blocking work (the scan cache's SQLite, starting the daemon) runs in thread workers; daemon calls run in async
workers, so quitting cancels them at once and a follow never holds the process open."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from textual.app import App
from textual.message import Message

from imageworks import system
from imageworks.errors import ImageWorksError

from .messages import Failed


class _Keyed(Protocol):
    def key_for(self, binding_id: str) -> str: ...


class Workers:
    """One per App, shared by its services. Typed against Textual's ``App``, not ours: the services are built by the
    App (``app.py`` imports them), so naming it here would close an import circle."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app

    def key_for(self, binding_id: str) -> str:
        """The key the App shows for ``binding_id`` (its keymap: ``ImageWorksApp.key_for``)."""
        return cast(_Keyed, self.app).key_for(binding_id)

    def post(self, message: Message) -> None:
        self.app.post_message(message)

    def notify(self, text: str) -> None:
        """A toast (on the App's thread: from a thread worker, go through ``from_thread``)."""
        self.app.notify(text)

    def fail(self, exc: BaseException, where: str) -> None:
        if isinstance(exc, ImageWorksError):
            text = str(exc)
        else:
            text = f"unexpected {type(exc).__name__}: {exc} (details in {system.log_traceback(exc, 'tui.log')})"
        self.post(Failed(text, where=where))

    def thread(self, fn: Callable[[], None], *, group: str, exclusive: bool = True, where: str = "") -> None:
        def guarded() -> None:
            try:
                fn()
            except Exception as exc:
                self.fail(exc, where or group)

        self.app.run_worker(guarded, thread=True, group=group, exclusive=exclusive, exit_on_error=False)

    def task(
        self, coro_fn: Callable[[], Awaitable[None]], *, group: str, exclusive: bool = True, where: str = ""
    ) -> None:
        async def guarded() -> None:
            try:
                await coro_fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.fail(exc, where or group)

        # Textual types run_worker's work as a union a coroutine function matches twice, which mypy solves as Never
        self.app.run_worker(guarded, group=group, exclusive=exclusive, exit_on_error=False)  # type: ignore[arg-type]

    def from_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the App's thread and wait for it (from a thread worker)."""
        return self.app.call_from_thread(fn, *args, **kwargs)


def current_worker_cancelled() -> Callable[[], bool]:
    """For a thread worker's loop: whether its worker was cancelled (never, outside a worker)."""
    from textual.worker import get_current_worker

    try:
        worker = get_current_worker()
    except Exception:
        return lambda: False
    return lambda: worker.is_cancelled
