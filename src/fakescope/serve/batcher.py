"""Micro-batching: many concurrent requests, one model worker thread, batched calls.

Requests :meth:`MicroBatcher.submit` items and get one
:class:`concurrent.futures.Future` per item. A single worker thread collects
up to ``max_batch`` waiting items - after the first one arrives it waits at
most ``max_wait_ms`` for more - and calls ``fn(items) -> results`` once for
the whole batch, so under load throughput approaches batch inference while a
lone request pays at most ``max_wait_ms`` extra latency. Only the worker ever
calls ``fn``, so the model is never run from two threads at once.

The queue is bounded: a submission that would push more than ``max_queue``
items into it raises :class:`QueueFullError` (the server answers 503) instead of
piling up work. Items whose future was cancelled while waiting (a timed-out
request) are dropped before the batch runs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class QueueFullError(Exception):
    """The batcher's queue cannot take these items now; retry later."""


class BatcherClosedError(Exception):
    """The batcher was stopped; no more items are accepted."""


class MicroBatcher(Generic[T, R]):
    """Run ``fn`` on micro-batches of submitted items in one worker thread.

    ``fn`` receives a non-empty list of at most ``max_batch`` items and must
    return one result per item, in order; if it raises, every item of that
    batch gets the exception. ``batch_sizes`` records the size of each batch
    that ran (the last 10,000; for tests and benchmarks).
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
        name: str = "fakescope-model",
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and max_wait_ms >= 0")
        self._fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._queue: deque[tuple[T, Future[R]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.batch_sizes: deque[int] = deque(maxlen=10_000)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Items waiting for the worker (not counting the batch running now)."""
        with self._cond:
            return len(self._queue)

    def submit(self, items: Sequence[T]) -> list[Future[R]]:
        """Queue ``items`` together (all or none); one future per item, in order.

        Raises :class:`QueueFullError` when they do not fit in the queue and
        :class:`BatcherClosedError` after :meth:`close`.
        """
        futures: list[Future[R]] = [Future() for _ in items]
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the model worker is stopped")
            if len(self._queue) + len(items) > self.max_queue:
                raise QueueFullError(
                    f"{len(self._queue)} images are waiting (limit {self.max_queue}); retry shortly"
                )
            self._queue.extend(zip(items, futures, strict=True))
            self._cond.notify()
        return futures

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting items, fail the waiting ones, and join the worker (bounded)."""
        with self._cond:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for _, fut in left:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(BatcherClosedError("the model worker stopped"))
        self._thread.join(timeout)

    def _next_batch(self) -> list[tuple[T, Future[R]]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            deadline = time.monotonic() + self.max_wait_s
            while len(self._queue) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            n = min(self.max_batch, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
            if not live:
                continue
            self.batch_sizes.append(len(live))
            try:
                results = list(self._fn([item for item, _ in live]))
                if len(results) != len(live):
                    raise RuntimeError(
                        f"batch function returned {len(results)} results for {len(live)} items"
                    )
            except BaseException as exc:  # the worker must survive anything fn raises
                for _, fut in live:
                    fut.set_exception(exc)
                continue
            for (_, fut), result in zip(live, results, strict=True):
                fut.set_result(result)
