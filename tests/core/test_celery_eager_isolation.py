"""Celery's eager mode keeps a process-wide flag that two eager calls on two threads can leave set; each test
starts with it clear (tests/conftest.py), or an earlier test's live server would make ``result.get()`` refuse."""

import threading

from celery._state import task_join_will_block

from mlops_portal.celery import app

STARTED: dict[str, threading.Event] = {}
RELEASE: dict[str, threading.Event] = {}


@app.task(name="tests.core.hold")
def hold(name: str) -> str:
    STARTED[name].set()
    RELEASE[name].wait(5)
    return name


def _inside(name: str) -> threading.Thread:
    """An eager call of ``hold`` on a thread of its own, once its task runs."""
    STARTED[name], RELEASE[name] = threading.Event(), threading.Event()
    thread = threading.Thread(target=hold.apply_async, args=([name],))
    thread.start()
    assert STARTED[name].wait(5)
    return thread


def test_two_overlapping_eager_calls_on_two_threads_leave_the_flag_set():
    first = _inside("first")  # sets the flag, remembers it clear
    second = _inside("second")  # remembers it set
    RELEASE["first"].set()
    first.join(5)
    RELEASE["second"].set()
    second.join(5)  # puts back what it remembered
    assert task_join_will_block(), "Celery's own behaviour changed: the isolation fixture may no longer be needed"


def test_the_next_test_starts_clear_and_can_get_an_eager_result():
    assert not task_join_will_block()
    STARTED["third"], RELEASE["third"] = threading.Event(), threading.Event()
    RELEASE["third"].set()
    assert hold.apply_async(args=["third"]).get(timeout=5) == "third"
