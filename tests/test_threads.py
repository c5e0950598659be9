"""Thread safety: grad mode and anomaly mode are per thread, and models trained in two threads
at once end bit-identical to the same models trained one after the other."""

import sys
import threading

import numpy as np
import pytest

import autograd_core as ag
import nn
from tests.other_thread import held_in_another_thread


def train(seed: int, steps: int, start: threading.Barrier | None = None) -> list:
    """Train a seeded MLP; every few steps evaluate under no_grad (switching grad mode in this
    thread only). Returns the final parameters."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Dense(3, 12, rng=seed), nn.Tanh(), nn.Dense(12, 4, rng=seed + 1))
    optimizer = (nn.Adam if seed % 2 else nn.SGD)(model, lr=0.05)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = rng.integers(0, 4, 20)
    if start is not None:
        start.wait(5)
    # One of the two models trains with anomaly detection on: the other thread must not see it.
    with ag.set_detect_anomaly(seed % 2 == 1):
        for step in range(steps):
            optimizer.zero_grad()
            loss = nn.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            if step % 3 == 0:
                with ag.no_grad():
                    assert not model(x).requires_grad
    return [p.data.copy() for p in model.parameters()]


@pytest.fixture
def fast_thread_switching():
    """Switch threads every 10 microseconds instead of 5 ms, so that the two trainings
    interleave between almost every pair of ops."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


def test_two_threads_training_at_once_match_sequential_runs(fast_thread_switching):
    steps = 60
    sequential = [train(seed, steps) for seed in (1, 2)]
    results, errors = {}, []
    start = threading.Barrier(2)

    def worker(seed):
        try:
            results[seed] = train(seed, steps, start)
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for seed, expected in zip((1, 2), sequential):
        for got, want in zip(results[seed], expected):
            np.testing.assert_array_equal(got, want)


def test_modes_set_in_one_thread_do_not_reach_another():
    seen = {}

    def worker():
        with ag.no_grad(), ag.detect_anomaly():
            yield
            seen["worker"] = (ag.is_grad_enabled(), ag.is_anomaly_enabled())

    with held_in_another_thread(worker):
        seen["main"] = (ag.is_grad_enabled(), ag.is_anomaly_enabled())
        x = ag.Tensor([1.0], requires_grad=True)
        assert (x * 2).requires_grad  # recording is still on here
    assert seen == {"worker": (False, True), "main": (True, False)}
