"""A second thread held inside its modes while the test checks this one (the per-thread tests)."""

import threading
from contextlib import contextmanager


@contextmanager
def held_in_another_thread(body):
    """Run the generator function ``body`` in a new thread up to its ``yield`` and hold that
    thread there, inside whatever ``body`` entered, while the with-block runs; then let ``body``
    finish, join the thread, and raise here whatever it raised."""
    inside, release, errors = threading.Event(), threading.Event(), []

    def run():
        try:
            steps = body()
            next(steps)
            inside.set()
            release.wait(5)
            next(steps, None)
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(error)
            inside.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert inside.wait(5)
        if errors:
            raise errors[0]
        yield
    finally:
        release.set()
        thread.join(5)
    if errors:
        raise errors[0]
