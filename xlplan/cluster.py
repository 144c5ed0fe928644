"""Read returned workbooks on a Dask cluster (dask.distributed), for collections that outgrow one
machine (100,000 workbooks and more).

Reading and checking move; storing stays. ``xlplan.collect.collect`` and ``check_files`` take a
``reader``; the one made by ``dask_reader(client)`` sends every path to the cluster's workers,
which read the file (``xlplan.read.read_returned``) and check it against the plan
(``xlplan.check.CheckContext``, pickled once per run and unpickled once per worker), as the local reading
processes do; the coordinator process keeps everything else:

* Hashing the inbox, copying each file into the archive, the checks that need the archive
  (a committee member's earlier forms) and writing SQLite all stay in the coordinator, one
  transaction per file as before. The database has one writer and is never opened by a worker.
* The workers open the files **by path**: they need the same paths as the coordinator, e.g. the
  project folder (and its ``archive/`` copies) on a shared file system mounted at the same place
  on every machine. File contents do not travel through Dask.
* What travels is small: out, per task of up to 8 files, the plan, the settings and the
  signing key (about 100 kB for the sample plan) and each file's path and collection time; back, the file's
  findings, value rows and facts (``xlplan.check.Checked``; a few kB). Called directly as a
  reader, a path goes out and one ``Returned`` comes back. The signing key reaches every
  worker, so a cluster beyond one trusted machine should use TLS (``distributed.Security``).
* Back-pressure: paths are submitted in batches of ``batch_size`` with at most two batches in
  flight (the cluster reads one batch while the coordinator records the previous one), so the
  memory of the coordinator and of the scheduler stays flat whatever the number of files.
  A batch should be several times the number of worker threads. Each task reads a chunk of
  up to 8 files (one task per file cost the scheduler and the transfers as much as reading a
  small workbook); a chunk whose task fails is read again one file per task, so a failure
  still costs only the file that causes it.
* Results are yielded in the order of the paths, as the reader contract requires, and as they
  come: the coordinator waits for the next file in order, then fetches every later file already
  read in one round trip (one round trip per file would cost a few ms each).
* A file whose task fails (an exception, or a worker that died while reading it more often than
  ``distributed.scheduler.allowed-failures`` allows) becomes an ``unreadable-file`` finding on
  that file, and the batch goes on. When the cluster itself goes away (the client is closed or
  the tasks are cancelled) the reader raises instead: files already recorded stay recorded, and
  running collect again completes the run, as after any interruption (recording the remaining
  files as unreadable would be wrong, and a later collect would skip them as already known).

Workers need xlplan (the same version) and python-calamine installed:
``pip install 'xlplan[dask]'`` on the coordinator and on every worker.
"""

from __future__ import annotations

import hashlib
import pickle
import uuid
from collections import deque
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Iterator

from .check import CheckContext, Checked, FileJob
from .read import Limits, Returned, read_returned

MISSING_DASK = ("Dask が必要です: pip install 'xlplan[dask]' / "
                "Dask is needed: pip install 'xlplan[dask]'")


def dask_reader(client, batch_size: int = 256) -> "DaskReader":
    """A reader for ``xlplan.collect.collect`` / ``check_files`` that reads files on a Dask cluster.

    ``client`` is a connected ``distributed.Client``; ``batch_size`` is how many files are
    submitted at once (at most two batches are in flight). The reader yields one ``Returned``
    per path, in the order of the paths; a file whose task failed on the cluster yields a
    ``Returned`` with an ``unreadable-file`` finding. Through ``collect`` and ``check_files``
    each file is also checked on the worker that read it (``DaskReader.check``). Raises
    ImportError (with how to install it) when dask.distributed is missing.
    """
    try:
        import distributed  # noqa: F401  (only to fail early, with a clear message)
    except ImportError as exc:
        raise ImportError(MISSING_DASK) from exc
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    return DaskReader(client, batch_size)


class DaskReader:
    """Reads (and, through ``xlplan.check.check_many``, checks) files on a Dask cluster."""

    def __init__(self, client, batch_size: int):
        self.client, self.batch_size = client, batch_size

    def __call__(self, paths: list[Path], key: bytes, limits: Limits = Limits()) -> Iterator[Returned]:
        """One ``Returned`` per path, in order, read on the cluster."""
        return _run_on_cluster(self.client, list(paths), FileJob(key, limits, read_returned), self.batch_size)

    def check(self, paths: list[Path], key: bytes, limits: Limits, context: CheckContext,
              times: list[str | None]) -> Iterator[Checked]:
        """One ``Checked`` per path, in order: each file read and checked on a worker. The plan
        and the settings (``context``), pickled once, go with each task of up to ``CHUNK``
        files and are unpickled once per worker (``_Shipped``). (Scattered to the workers
        once, they were lost with a worker that died, and every later task with them.)"""
        job = FileJob(key, limits, read_returned, context)
        return _run_on_cluster(self.client, list(zip(paths, times)), job, self.batch_size)


class _Shipped:
    """A ``FileJob`` pickled once by the coordinator and unpickled once per worker process.

    The job of a check holds the plan and the settings (about 100 kB): pickling it for every
    task, and unpickling it on the worker for every task, cost more than a file's reading.
    Every task still carries the bytes, so a worker that died and was replaced (or one that
    joined late) finds the job in its next task."""

    def __init__(self, job: FileJob):
        self.data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        self.token = hashlib.sha256(self.data).hexdigest()

    def load(self) -> FileJob:
        """The job, unpickled on the first task of this worker process that needs it."""
        job = _LOADED.get(self.token)
        if job is None:
            _LOADED.clear()  # one run's job at a time
            job = _LOADED[self.token] = pickle.loads(self.data)
        return job


_LOADED: dict[str, FileJob] = {}  # on a worker: the job of the run its tasks belong to


def _run_one(task, job: _Shipped):
    """The task run on a worker for one file (module level, so workers import it by name)."""
    return job.load().run(task)


def _run_chunk(tasks: list, job: _Shipped) -> list:
    """The task run on a worker for a few files: one task per file cost the scheduler and the
    transfers as much as reading (a small workbook reads in ~20 ms)."""
    loaded = job.load()
    return [loaded.run(task) for task in tasks]


CHUNK = 8  # files per task (as the local process pool's batches)


def _run_on_cluster(client, tasks: list, job, batch_size: int) -> Iterator:
    """``job`` run on every task on the cluster, results in the order of the tasks, as they come."""
    # Task keys are unique per call, so two readers (or two runs) never share results.
    prefix = f"xlplan-read-{uuid.uuid4().hex}"
    starts = iter(range(0, len(tasks), batch_size))
    in_flight: deque = deque()
    # A batch smaller than a few tasks per worker thread is read one file per task.
    threads = sum(client.nthreads().values()) or 1
    chunk = max(1, min(CHUNK, batch_size // (2 * threads)))
    shipped = _Shipped(job)

    def submit() -> None:
        start = next(starts, None)
        if start is None:
            return
        batch = tasks[start:start + batch_size]
        chunks = [batch[i:i + chunk] for i in range(0, len(batch), chunk)]
        futures = client.map(_run_chunk, chunks, job=shipped,
                             key=[f"{prefix}-{start + i * chunk}" for i in range(len(chunks))])
        in_flight.append((chunks, futures))

    try:
        submit()
        while in_flight:
            submit()  # the next batch is read while this one is recorded
            chunks, futures = in_flight[0]
            yield from _batch_results(client, chunks, futures, job, shipped, prefix)
            in_flight.popleft()
            for future in futures:  # free the results held on the workers now, not at gc
                future.release()
    finally:
        # The caller stopped early, or an error: stop and free what is still on the cluster.
        if in_flight and client.status == "running":
            client.cancel([f for _, futures in in_flight for f in futures])


def _batch_results(client, chunks: list[list], futures: list, job: FileJob, shipped: _Shipped,
                   prefix: str) -> Iterator:
    """The results of one batch in order, as they come: wait for the next chunk, then fetch
    every later one already finished in one round trip."""
    i = 0
    while i < len(futures):
        yield from _chunk_result(client, chunks[i], futures[i], job, shipped, prefix)
        i += 1
        j = i
        while j < len(futures) and futures[j].status == "finished":
            j += 1
        if j == i:
            continue
        try:
            results = client.gather(futures[i:j])
        except CancelledError:
            raise
        except Exception:  # noqa: BLE001 - e.g. a worker lost since: fetch one by one
            if client.status != "running":
                raise
            continue
        for chunk_results in results:
            yield from chunk_results
        i = j


def _chunk_result(client, tasks: list, future, job: FileJob, shipped: _Shipped, prefix: str) -> list:
    """The results of one chunk. A chunk whose task failed is read again one file per task,
    so only the file that fails (raises, or kills its worker) is unreadable."""
    results, exc = _outcome(client, future)
    if exc is None:
        return results
    if len(tasks) == 1:
        return [_failed(client, tasks[0], exc, job)]
    singles = client.map(_run_one, tasks, job=shipped, key=[f"{prefix}-retry-{uuid.uuid4().hex}" for _ in tasks])
    try:
        return [_result(client, task, single, job) for task, single in zip(tasks, singles)]
    finally:
        for single in singles:
            single.release()


def _result(client, task, future, job):
    """The result of one task; a task that failed is an unreadable file."""
    result, exc = _outcome(client, future)
    return result if exc is None else _failed(client, task, exc, job)


def _outcome(client, future) -> tuple[object, BaseException | None]:
    """(the task's result, None), or (None, the exception) when the task failed."""
    try:
        return future.result(), None
    except CancelledError:
        raise  # the cluster went away: stop, do not record good files as unreadable
    except Exception as exc:  # noqa: BLE001 - a failed task is a finding on its file
        if client.status != "running":
            raise  # nor when the client was closed or lost its scheduler
        return None, exc


def _failed(client, task, exc: BaseException, job):
    """A file whose reading failed on the cluster, as ``read_returned`` reports an unreadable
    file (and checked as such, here, when the job checks)."""
    if type(exc).__name__ == "KilledWorker":
        return job.unreadable(task, "読み取り中にワーカーが停止しました", "the worker stopped while reading the file")
    return job.unreadable(task, "クラスタでの読み取りに失敗しました", "reading the file on the cluster failed")
