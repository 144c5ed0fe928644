"""Read returned workbooks on a Dask cluster (dask.distributed), for collections that outgrow one
machine (100,000 workbooks and more).

Only the reading step moves. ``xlplan.collect.collect`` and ``check_files`` take a ``reader``; the one
made by ``dask_reader(client)`` sends ``xlplan.read.read_returned`` for every path to the
cluster's workers, and the coordinator process keeps everything else:

* Hashing the inbox, copying each file into the archive, checking each read file against the
  plan and writing SQLite all stay in the coordinator, one transaction per file as before. The
  database has one writer and is never opened by a worker.
* The workers open the files **by path**: they need the same paths as the coordinator, e.g. the
  project folder (and its ``archive/`` copies) on a shared file system mounted at the same place
  on every machine. File contents do not travel through Dask.
* What travels is small: out, a path, the signing key and the size limits per file; back, one
  ``Returned`` (metadata, input cells and findings; a few kB). The signing key reaches every
  worker, so a cluster beyond one trusted machine should use TLS (``distributed.Security``).
* Back-pressure: paths are submitted in batches of ``batch_size`` with at most two batches in
  flight (the cluster reads one batch while the coordinator records the previous one), so the
  memory of the coordinator and of the scheduler stays flat whatever the number of files.
  A batch should be several times the number of worker threads.
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

import uuid
from collections import deque
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Iterator

from .check import Reader
from .read import Limits, Returned, read_returned, unreadable

MISSING_DASK = ("Dask が必要です: pip install 'xlplan[dask]' / "
                "Dask is needed: pip install 'xlplan[dask]'")


def dask_reader(client, batch_size: int = 256) -> Reader:
    """A reader for ``xlplan.collect.collect`` / ``check_files`` that reads files on a Dask cluster.

    ``client`` is a connected ``distributed.Client``; ``batch_size`` is how many files are
    submitted at once (at most two batches are in flight). The reader yields one ``Returned``
    per path, in the order of the paths; a file whose task failed on the cluster yields a
    ``Returned`` with an ``unreadable-file`` finding. Raises ImportError (with how to install
    it) when dask.distributed is missing.
    """
    try:
        import distributed  # noqa: F401  (only to fail early, with a clear message)
    except ImportError as exc:
        raise ImportError(MISSING_DASK) from exc
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")

    def read(paths: list[Path], key: bytes, limits: Limits = Limits()) -> Iterator[Returned]:
        """One ``Returned`` per path, in order, read on the cluster."""
        return _read_on_cluster(client, list(paths), key, limits, batch_size)

    return read


def _read_one(path: Path, key: bytes, limits: Limits) -> Returned:
    """The task run on a worker (module level, so workers import it by name)."""
    return read_returned(path, key, limits)


def _read_on_cluster(client, paths: list[Path], key: bytes, limits: Limits,
                     batch_size: int) -> Iterator[Returned]:
    # Task keys are unique per call, so two readers (or two runs) never share results.
    prefix = f"xlplan-read-{uuid.uuid4().hex}"
    starts = iter(range(0, len(paths), batch_size))
    in_flight: deque = deque()

    def submit() -> None:
        start = next(starts, None)
        if start is None:
            return
        batch = paths[start:start + batch_size]
        futures = client.map(_read_one, batch, [key] * len(batch), [limits] * len(batch),
                             key=[f"{prefix}-{i}" for i in range(start, start + len(batch))])
        in_flight.append((batch, futures))

    try:
        submit()
        while in_flight:
            submit()  # the next batch is read while this one is recorded
            batch, futures = in_flight[0]
            yield from _batch_results(client, batch, futures)
            in_flight.popleft()
            for future in futures:  # free the results held on the workers now, not at gc
                future.release()
    finally:
        # The caller stopped early, or an error: stop and free what is still on the cluster.
        if in_flight and client.status == "running":
            client.cancel([f for _, futures in in_flight for f in futures])


def _batch_results(client, batch: list[Path], futures: list) -> Iterator[Returned]:
    """The results of one batch in order, as they come: wait for the next file, then fetch
    every later one already finished in one round trip."""
    i = 0
    while i < len(futures):
        yield _result(client, batch[i], futures[i])
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
        yield from results
        i = j


def _result(client, path: Path, future) -> Returned:
    """The result of one task; a task that failed is an unreadable file."""
    try:
        return future.result()
    except CancelledError:
        raise  # the cluster went away: stop, do not record good files as unreadable
    except Exception as exc:  # noqa: BLE001 - a failed task is a finding on its file
        if client.status != "running":
            raise  # nor when the client was closed or lost its scheduler
        return _failed(path, exc)


def _failed(path: Path, exc: BaseException) -> Returned:
    """A file whose reading failed on the cluster, as read_returned reports an unreadable file."""
    if type(exc).__name__ == "KilledWorker":
        return unreadable(path, "読み取り中にワーカーが停止しました", "the worker stopped while reading the file")
    return unreadable(path, "クラスタでの読み取りに失敗しました", "reading the file on the cluster failed")
