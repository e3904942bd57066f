"""Run a list of tasks, each after the one it names: here, one by one or in a pool of
processes, or as Ray tasks on a local Ray or a cluster. The benchmark grid and the sweeps run
their work through :func:`run_tasks`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ENGINES = ("process", "ray")


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")


@contextmanager
def ray_session(address: str | None, jobs: int) -> Iterator[Any]:
    """The ``ray`` module with Ray running: the cluster at ``address``, or a local Ray of
    ``jobs`` CPUs started here and stopped on leaving (one already running is used as it is)."""
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray: Ray is not installed; pip install -e \".[scale]\"") \
            from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else jobs, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@dataclass(frozen=True)
class Task:
    """``fn(*args)``, to run once the task at index ``after`` of the same list is done."""

    fn: Callable[..., Any]
    args: tuple
    after: int | None = None


def _pool_worker() -> None:
    """Initializer of a pool process: one torch thread (tasks run side by side instead of
    fighting for cores), and an end when the parent is gone (killed with SIGKILL, say), so that no
    orphan goes on writing results beside a rerun."""
    import torch

    torch.set_num_threads(1)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _after(_: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as a Ray task whose first argument is the result it waits for (None for a
    task that waits for nothing)."""
    return fn(*args)


def run_tasks(tasks: Sequence[Task], done: Callable[[int, Any], None], *, jobs: int,
              engine: str = "process", address: str | None = None, gpus: int = 0) -> None:
    """Run ``tasks``, each after the one it names, and call ``done(index, result)`` as each
    finishes (a task's error is raised here).

    ``engine="process"``: in this process when ``jobs <= 1``, in list order; else ``jobs``
    processes, each taking the first task in the list whose predecessor is done, so that a
    subject's cells go before the next subject's shared stages. ``engine="ray"``: every task a
    Ray task of one CPU (and ``gpus`` GPUs), on a local Ray of ``jobs`` CPUs or the cluster at
    ``address``.
    """
    check_engine(engine)
    if engine == "ray":
        with ray_session(address, jobs) as ray:
            after = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_after)
            refs: list[Any] = []
            for task in tasks:
                previous = None if task.after is None else refs[task.after]
                refs.append(after.remote(previous, task.fn, *task.args))
            index = {ref: i for i, ref in enumerate(refs)}
            pending = list(refs)
            while pending:
                [ready], pending = ray.wait(pending, num_returns=1)
                done(index[ready], ray.get(ready))
        return
    if jobs <= 1:
        for i, task in enumerate(tasks):
            done(i, task.fn(*task.args))
        return
    finished, waiting, running = set(), list(range(len(tasks))), {}
    with ProcessPoolExecutor(max_workers=jobs, initializer=_pool_worker) as pool:
        while waiting or running:
            ready = [i for i in waiting if tasks[i].after is None or tasks[i].after in finished]
            for i in ready[: jobs - len(running)]:
                waiting.remove(i)
                running[pool.submit(tasks[i].fn, *tasks[i].args)] = i
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                i = running.pop(future)
                finished.add(i)
                done(i, future.result())
