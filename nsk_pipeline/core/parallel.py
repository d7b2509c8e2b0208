"""Work on a large source's batches in several processes: parsing and validating are Python and
pandas, one core each, and the run's own process is one core of several.

This process always works too: it starts at once, while the others (a forkserver's children,
not forks — the caller may be a Dagster run with threads of its own) still import pandas.
Results come back in the order of the inputs, so the outcome never depends on who did what.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

MIN_INPUTS = 4
_counter = None  # in a worker process: the shared count of inputs claimed


def _pool(workers: int, counter=None) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(max_workers=workers - 1, mp_context=context, initializer=_start_worker,
                               initargs=(counter,))


def _start_worker(counter) -> None:
    from nsk_pipeline.core.memory import return_freed_memory

    global _counter
    _counter = counter
    return_freed_memory()  # as the run's own process: each batch's memory goes back when done


def map_in_workers(task: Callable[[Any], Any], groups: list, workers: int) -> Iterator:
    """`task` over `groups` (cheap to send: file names, say), results in order. With `workers`
    > 1 this process and `workers` - 1 others take the next input from a shared counter, so no
    input waits queued behind a busy process. Fewer than `MIN_INPUTS` are done here: a worker
    takes seconds to start, which this process would spend waiting for it at the end."""
    if workers <= 1 or len(groups) < MIN_INPUTS:
        yield from map(task, groups)
        return
    counter = multiprocessing.get_context("forkserver").Value("q", 0)
    done: dict[int, object] = {}
    following = 0  # the next result to hand on
    pool = _pool(workers, counter)
    try:
        # Each task claims its input when it starts; three per process keep it busy while this
        # one works (a task may find nothing left).
        queued = [pool.submit(_next_in_worker, task, groups) for _ in range(3 * (workers - 1))]
        while (i := _claim(counter, len(groups))) is not None:
            done[i] = task(groups[i])
            for future in [f for f in queued if f.done()]:
                queued.remove(future)
                if (claimed := future.result()) is not None:
                    done[claimed[0]] = claimed[1]
                    queued.append(pool.submit(_next_in_worker, task, groups))
            while following in done:
                yield done.pop(following)
                following += 1
        for future in queued:
            if (claimed := future.result()) is not None:
                done[claimed[0]] = claimed[1]
    finally:
        with counter.get_lock():
            counter.value = len(groups)  # after an error (or an early stop): nothing more is started
        pool.shutdown(wait=True, cancel_futures=True)
    while following in done:
        yield done.pop(following)
        following += 1


def map_stream_in_workers(task: Callable[[Any], Any], items: Iterable, workers: int, expected: int) -> list:
    """`task` over `items` as they are produced here (batches read from the warehouse, which
    only this process may open), results in order. An item goes to a worker process while the
    workers have fewer than two waiting each; otherwise this process does it. `expected` is how
    many items are coming: fewer than `MIN_INPUTS` are done here, as in `map_in_workers`."""
    if workers <= 1 or expected < MIN_INPUTS:
        return [task(item) for item in items]
    results: dict[int, object] = {}
    sent: list[tuple[int, Future]] = []
    with _pool(workers) as pool:
        for i, item in enumerate(items):
            if sum(not f.done() for _, f in sent) < 2 * (workers - 1):
                sent.append((i, pool.submit(task, item)))
            else:
                results[i] = task(item)
        for i, future in sent:
            results[i] = future.result()
    return [results[i] for i in range(len(results))]


def _claim(counter, n: int) -> int | None:
    with counter.get_lock():
        if counter.value >= n:
            return None
        counter.value += 1
        return counter.value - 1


def _next_in_worker(task, groups: list):
    i = _claim(_counter, len(groups))
    return None if i is None else (i, task(groups[i]))
