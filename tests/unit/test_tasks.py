import operator

import pytest

from sasgda.utils.tasks import Task, run_tasks


def _run(tasks, **options):
    finished = []
    run_tasks(tasks, lambda i, result: finished.append((i, result)), **options)
    return finished


def test_tasks_run_after_the_task_they_name_and_report_each_result():
    tasks = [Task(operator.add, (1, 2)), Task(operator.mul, (3, 4), after=0),
             Task(operator.sub, (9, 1)), Task(pow, (2, 5), after=2)]
    assert _run(tasks, jobs=1) == [(0, 3), (1, 12), (2, 8), (3, 32)]  # list order here
    finished = _run(tasks, jobs=2)  # a pool of two processes
    assert sorted(finished) == [(0, 3), (1, 12), (2, 8), (3, 32)]
    order = [i for i, _ in finished]
    assert order.index(0) < order.index(1) and order.index(2) < order.index(3)


def test_a_task_error_and_an_unknown_engine_are_raised():
    with pytest.raises(ZeroDivisionError):
        _run([Task(operator.truediv, (1, 0))], jobs=2)
    with pytest.raises(ValueError, match="--engine 'dask': expected one of process, ray"):
        _run([Task(operator.add, (1, 2))], jobs=1, engine="dask")
