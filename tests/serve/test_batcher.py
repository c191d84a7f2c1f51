"""MicroBatcher: batching under concurrency, order, queue bound, errors, cancellation."""

from __future__ import annotations

import threading

import pytest

from fakescope.serve.batcher import BatcherClosedError, MicroBatcher, QueueFullError
from tests.serve.serve_helpers import WAIT_S, wait_until


class Gated:
    """fn that squares its items, records batches, and waits at a gate on the first call."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        self.entered.set()
        assert self.gate.wait(WAIT_S)
        return [x * x for x in items]


def test_waiting_items_run_as_one_batch_in_order() -> None:
    fn = Gated()
    b = MicroBatcher(fn, max_batch=16, max_wait_ms=0, max_queue=64)
    try:
        first = b.submit([1])
        assert fn.entered.wait(WAIT_S)
        later = [b.submit([x]) for x in range(2, 7)] + [b.submit([7, 8, 9])]
        wait_until(lambda: b.pending == 8, "8 queued items")
        fn.gate.set()
        got = [f.result(WAIT_S) for fs in [first, *later] for f in fs]
        assert got == [x * x for x in range(1, 10)]
        assert fn.batches == [[1], [2, 3, 4, 5, 6, 7, 8, 9]]
        assert list(b.batch_sizes) == [1, 8]
        assert fn.threads == {"fakescope-model"}
    finally:
        b.close()


def test_max_batch_splits_a_long_queue() -> None:
    fn = Gated()
    b = MicroBatcher(fn, max_batch=3, max_wait_ms=0, max_queue=64)
    try:
        first = b.submit([0])
        assert fn.entered.wait(WAIT_S)
        rest = b.submit(list(range(1, 8)))
        fn.gate.set()
        assert [f.result(WAIT_S) for f in first + rest] == [x * x for x in range(8)]
        assert [len(x) for x in fn.batches] == [1, 3, 3, 1]
    finally:
        b.close()


def test_queue_full_is_all_or_nothing() -> None:
    fn = Gated()
    b = MicroBatcher(fn, max_batch=1, max_wait_ms=0, max_queue=3)
    try:
        b.submit([1])
        assert fn.entered.wait(WAIT_S)  # the worker holds item 1; the queue is empty again
        b.submit([2, 3])
        with pytest.raises(QueueFullError, match="limit 3"):
            b.submit([4, 5])
        assert b.pending == 2  # nothing of the refused submission was queued
        b.submit([6])
        fn.gate.set()
    finally:
        b.close()


def test_a_failing_batch_fails_its_items_and_the_worker_survives() -> None:
    def fn(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return items

    b = MicroBatcher(fn, max_batch=1, max_wait_ms=0)
    try:
        bad = b.submit([13])[0]
        with pytest.raises(ValueError, match="unlucky"):
            bad.result(WAIT_S)
        assert b.submit([2])[0].result(WAIT_S) == 2
        short = MicroBatcher(lambda items: [], max_batch=2)
        with pytest.raises(RuntimeError, match="0 results for 1 items"):
            short.submit([1])[0].result(WAIT_S)
        short.close()
    finally:
        b.close()


def test_cancelled_items_are_skipped() -> None:
    fn = Gated()
    b = MicroBatcher(fn, max_batch=8, max_wait_ms=0)
    try:
        b.submit([1])
        assert fn.entered.wait(WAIT_S)
        dropped, kept = b.submit([2, 3])
        assert dropped.cancel()
        fn.gate.set()
        assert kept.result(WAIT_S) == 9
        assert fn.batches == [[1], [3]]
    finally:
        b.close()


def test_close_fails_waiting_items_and_refuses_new_ones() -> None:
    fn = Gated()
    b = MicroBatcher(fn, max_batch=1, max_wait_ms=0)
    running = b.submit([1])[0]
    assert fn.entered.wait(WAIT_S)
    waiting = b.submit([2])[0]
    b.close(timeout=0)  # the worker is still inside fn at the gate
    with pytest.raises(BatcherClosedError):
        waiting.result(WAIT_S)
    with pytest.raises(BatcherClosedError):
        b.submit([3])
    fn.gate.set()
    assert running.result(WAIT_S) == 1  # the batch already running still finishes
    b.close()
