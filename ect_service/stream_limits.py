"""How many streams may be open at once, and how long a stream may wait for a client that does not read.

A stream that cannot be admitted is refused at once (the servicer answers RESOURCE_EXHAUSTED), so a
crowd of clients costs bounded memory. A stream whose client has read nothing for `idle_timeout`
seconds (grpc's flow control holds the server's next message until the client reads) is cancelled
by a watchdog: the servicer ends it with CANCELLED and a message saying why, and its place goes to
another stream.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class OpenStream:
    """One admitted stream. The servicer sets `waiting_since` (the event loop's clock) before it
    writes a message and clears it once grpc took the message; the watchdog reads it, and sets
    `idle` before it cancels the stream's task."""

    __slots__ = ("task", "waiting_since", "idle")

    def __init__(self, task: asyncio.Task) -> None:
        self.task = task
        self.waiting_since: float | None = None
        self.idle = False


class StreamLimits:
    def __init__(self, max_streams: int, idle_timeout: float) -> None:
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self._open: dict[OpenStream, None] = {}  # insertion-ordered set
        self._watchdog: asyncio.Task | None = None

    def admit(self) -> OpenStream | None:
        """A place for the calling task's stream, or None when max_streams are open."""
        if len(self._open) >= self.max_streams:
            return None
        stream = OpenStream(asyncio.current_task())
        self._open[stream] = None
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="ect-stream-watchdog")
        return stream

    def release(self, stream: OpenStream) -> None:
        self._open.pop(stream, None)

    async def _watch(self) -> None:
        """Every quarter of the idle timeout (at most a second), while streams are open."""
        period = min(1.0, self.idle_timeout / 4)
        loop = asyncio.get_running_loop()
        while self._open:
            await asyncio.sleep(period)
            now = loop.time()
            for stream in list(self._open):
                if stream.waiting_since is not None and now - stream.waiting_since > self.idle_timeout:
                    log.warning("cancelling a stream whose client read nothing for %.1f s", now - stream.waiting_since)
                    self.release(stream)
                    stream.idle = True
                    stream.task.cancel()

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
