"""core.parallel: results in the order of the inputs, whoever computed them, and the work shared
between this process and a worker."""

from __future__ import annotations

import os
import time
from functools import partial

import pytest

from nsk_pipeline.core.parallel import MIN_INPUTS, map_in_workers, map_stream_in_workers


def _slow_square(x: int) -> tuple[int, int]:
    time.sleep(0.15)  # long enough that the worker starts before this process runs out of inputs
    return x * x, os.getpid()


def test_map_in_workers_keeps_order_and_shares_the_work():
    out = list(map_in_workers(_slow_square, list(range(24)), workers=2))
    assert [v for v, _ in out] == [x * x for x in range(24)]
    assert len({pid for _, pid in out}) == 2 and os.getpid() in {pid for _, pid in out}


def test_map_stream_in_workers_keeps_order_and_shares_the_work():
    out = map_stream_in_workers(_slow_square, (x for x in range(24)), workers=2, expected=24)
    assert [v for v, _ in out] == [x * x for x in range(24)]
    assert len({pid for _, pid in out}) == 2 and os.getpid() in {pid for _, pid in out}


@pytest.mark.parametrize("mapper", [lambda f, xs: list(map_in_workers(f, list(xs), 1)),
                                    lambda f, xs: map_stream_in_workers(f, iter(xs), 1, len(xs))])
def test_one_worker_means_here_only(mapper):
    out = mapper(_slow_square, range(3))
    assert [v for v, _ in out] == [0, 1, 4] and {pid for _, pid in out} == {os.getpid()}


def _fail_in_a_worker(main_pid: int, x: int) -> int:
    if os.getpid() != main_pid:
        raise ValueError(f"input {x} failed in a worker")
    time.sleep(0.15)
    return x


@pytest.mark.parametrize("mapper", [lambda f, xs: list(map_in_workers(f, list(xs), 2)),
                                    lambda f, xs: map_stream_in_workers(f, iter(xs), 2, len(xs))])
def test_an_error_in_a_worker_reaches_the_caller(mapper):
    with pytest.raises(ValueError, match="failed in a worker"):
        mapper(partial(_fail_in_a_worker, os.getpid()), range(40))


@pytest.mark.parametrize("mapper", [lambda f, xs: list(map_in_workers(f, list(xs), 2)),
                                    lambda f, xs: map_stream_in_workers(f, iter(xs), 2, len(xs))])
def test_a_few_inputs_are_done_here_without_starting_a_worker(mapper):
    """A worker takes seconds to start: fewer inputs than MIN_INPUTS never wait for one."""
    out = mapper(_slow_square, range(MIN_INPUTS - 1))
    assert {pid for _, pid in out} == {os.getpid()}
