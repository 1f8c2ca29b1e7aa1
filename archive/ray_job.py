"""The same job on Ray Data: the inputs read as a Ray dataset, scored by a pool of actors that
each load the models once, parts written under the same names and listed in the same manifest
as the one-machine scorer (so either can resume the other).

    read_datasource(ChunkSource)   one read task per unfinished chunk (`archive.inputs.plan_chunks`
                                   cuts each file as the one-machine reader does; `read_chunk` reads
                                   one chunk on its own), each yielding its chunk as one block
    .map_batches(ScoreChunks,      an actor pool (ActorPoolStrategy(size=workers)); each actor builds
        batch_format="pyarrow")    the classifier through finterm.wiring with `threads` cores, scores a
                                   chunk with the one-machine code and writes its part atomically
    .iter_batches()                the driver appends each finished chunk to the manifest

Why not `Dataset.write_parquet`: it appends files under random names and does not keep order,
so a rerun after a stop would write the finished rows twice. Here a part's name is its input
file and chunk number, written by rename, and listed only once whole. OUT and the inputs must
be reachable under the same paths from every node (a shared filesystem), as for write_parquet.

Resources: an actor asks for `threads` CPUs less a little, so read tasks (a quarter CPU each)
always find room; with actors holding every CPU the job would wait forever
(ray-project/ray#44687). The classifier is sized to `threads` explicitly: Ray sets one OpenMP
thread per actor but DeepSparse and ONNX Runtime would otherwise size themselves to every core
of the node, and two actors would fight for them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import warnings
from pathlib import Path

import polars as pl

from finterm.signals import StopController

from .inputs import Chunk, ChunkRef, Columns, FilePlan, InputFile, plan_chunks, read_chunk
from .local import ProgressBar, RunStats, commit_result
from .parts import OutputDir, model_identity
from .scoring import ChunkScorer

FILE = "_finterm_file"
CHUNK = "_finterm_chunk"
ROWS = "_finterm_rows"
ERROR = "_finterm_error"
#: CPUs a read task asks for; an actor asks for its threads less this (so reads always fit).
READ_CPUS = 0.25

log = logging.getLogger("finterm.archive.ray")


def ray_unavailable_reason() -> str | None:
    """None when Ray Data can be imported, else one line saying how to get it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        return f"--ray needs Ray Data: pip install \"finterm[ray]\" ({exc.__class__.__name__}: {exc})"
    return None


def _chunk_table(chunk: Chunk, problem: str | None):
    """A chunk as one block: its rows, which file and chunk they are, how many, and the problem
    that broke the file off inside it (a block with no rows says only that)."""
    frame = chunk.frame
    if frame.height == 0:
        return _error_table(chunk.file, problem or "")
    frame = frame.with_columns(pl.lit(str(chunk.file.path)).alias(FILE), pl.lit(chunk.index, dtype=pl.Int64).alias(CHUNK),
                               pl.lit(chunk.read, dtype=pl.Int64).alias(ROWS), pl.lit(problem, dtype=pl.String).alias(ERROR))
    return frame.to_arrow()


def _error_table(f: InputFile, message: str):
    return pl.DataFrame({FILE: [str(f.path)], CHUNK: [-1], ROWS: [0], ERROR: [message]},
                        schema={FILE: pl.String, CHUNK: pl.Int64, ROWS: pl.Int64, ERROR: pl.String}).to_arrow()


def _make_datasource(work: list[tuple[FilePlan, ChunkRef]], columns: Columns):
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class ChunkSource(Datasource):
        """One read task per unfinished chunk, each yielding its chunk as one block: Ray hands a
        read task's output to one actor call, so a task per chunk is what spreads a file over
        the workers (and keeps a call's memory to one chunk)."""

        def estimate_inmemory_data_size(self):
            return None  # unknown: Ray would otherwise split blocks it thinks too big

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            tasks = []
            for plan, ref in work:
                def read(plan=plan, ref=ref):
                    chunk, problem = read_chunk(plan, ref, columns)
                    yield _chunk_table(chunk, problem)

                meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=(str(plan.file.path),))
                tasks.append(ReadTask(read, meta))
            return tasks

    return ChunkSource()


class ScoreChunks:
    """The actor: loads the models once, then scores and writes whole chunks."""

    def __init__(self, config, threads: int, columns: dict, probs: bool, out: str, files: list[InputFile],
                 quiet_deepsparse: bool = True):
        os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")  # before deepsparse is imported, on every node
        from finterm.wiring import build_classifier

        self.clf = build_classifier(config, batch_scoring=True, threads=threads, progress=lambda message: None)
        # The actor waits for its DeepSparse compiles before its first chunk: with a core or two
        # of its own, the ONNX Runtime bridge would take the core the compile needs (compiles
        # run 10 nicer, and Ray's workers at nice 15 already), and a few seconds of
        # compiling became tens of seconds of bridged scoring on a busy machine.
        self.clf.wait_ready()
        self.columns = Columns(**columns)
        self.scorer = ChunkScorer(self.clf, self.columns, probs=probs)
        self.models = model_identity(self.clf)
        self.engine = getattr(self.clf, "engine_name", "")
        self.out = Path(out)
        self.files = {str(f.path): f for f in files}

    def __call__(self, batch):
        frame = pl.from_arrow(batch)
        if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a table always converts to a frame
            raise TypeError("expected a table")
        rows = []
        for (path, index), group in frame.group_by([FILE, CHUNK], maintain_order=True):
            problem = group[ERROR][0]
            if index < 0:
                rows.append({"entry": None, "error": problem, "pid": os.getpid(), "rss_mb": _rss_mb()})
                continue
            expected = int(group[ROWS][0])
            if group.height != expected:
                raise RuntimeError(f"chunk {index} of {path} reached a worker in pieces ({group.height} of {expected} rows)")
            data = group.drop(FILE, CHUNK, ROWS, ERROR)
            chunk = Chunk(self.files[path], int(index), data)
            result = self.scorer.score(chunk)
            entry = commit_result(self.out, result, self.models, self.engine, self.columns)
            entry["worker"] = f"{socket.gethostname()}:{os.getpid()}"
            rows.append({"entry": json.dumps(entry), "error": problem, "pid": os.getpid(), "rss_mb": _rss_mb()})
        import pyarrow as pa

        return pa.Table.from_pylist(rows, schema=pa.schema([("entry", pa.string()), ("error", pa.string()),
                                                            ("pid", pa.int64()), ("rss_mb", pa.float64())]))


def _rss_mb() -> float:
    """This process's resident memory in MB (Linux), 0 where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def start_ray(address: str | None, num_cpus: int | None = None) -> dict:
    """ray.init: the cluster at `address`, or a local Ray; returns the cluster's resources."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Errors only: Ray's notices (token auth on, progress bars off, deprecations) are not the user's business.
    kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
              "configure_logging": True, "ignore_reinit_error": True}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.target_max_block_size = None  # a chunk is one block however large: its part is written whole
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # "progress bars disabled" and the like
    return dict(ray.cluster_resources())


def default_workers(resources: dict, threads: int) -> int:
    """One worker per `threads` CPUs of the cluster (at least one)."""
    return max(1, int(resources.get("CPU", 1) // max(1, threads)))


def run_ray(files: list[InputFile], out: OutputDir, *, config, columns: Columns, probs: bool, chunk_rows: int,
            workers: int, threads: int, stops: StopController, stats: RunStats, progress: ProgressBar | None = None) -> dict:
    """Score every unfinished chunk on the Ray cluster already started (`start_ray`).

    Returns {"engine", "models", "workers": {pid: peak MB}}. Raises Stopped on a stop signal
    (the chunks in flight are dropped; the finished ones are listed)."""
    from ray.data import ActorPoolStrategy, read_datasource

    work: list[tuple[FilePlan, ChunkRef]] = []
    for f in files:
        done = out.done(f)
        stats.skipped += len(done)
        plan = plan_chunks(f, chunk_rows)
        work += [(plan, ref) for ref in plan.chunks if ref.index not in done]
    info: dict = {"engine": "", "models": None, "workers": {}}
    if not work:
        return info
    # One block per chunk, never split: as many blocks asked for as there are read tasks (Ray
    # would otherwise cut each task's blocks up to reach its own idea of parallelism).
    ds = read_datasource(_make_datasource(work, columns), num_cpus=READ_CPUS, override_num_blocks=len(work))
    with warnings.catch_warnings():
        # max_restarts has no named parameter in Ray 2.60 (the pin): passed the old way.
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = ds.map_batches(
            ScoreChunks,
            fn_constructor_kwargs={"config": config, "threads": threads, "columns": columns.as_dict(), "probs": probs,
                                   "out": str(out.path), "files": files},
            batch_size=None,  # a block is one chunk: its part is written whole by one actor
            batch_format="pyarrow",
            # One chunk at a time per actor: a free actor takes the next chunk (rather than chunks
            # queued up front behind a busy one), so the workers finish together.
            compute=ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
            num_cpus=max(0.1, threads - READ_CPUS),
            # A worker that dies fails the run, and the rerun resumes from the finished parts;
            # Ray's default (restart it) logs an error per actor whose constructor arguments sit
            # in the object store (ray-project/ray#53727), which these always do.
            max_restarts=0,
        )
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for row in batch.to_pylist():
            info["workers"][row["pid"]] = max(info["workers"].get(row["pid"], 0.0), row["rss_mb"] or 0.0)
            if row["error"]:
                stats.broken.append(row["error"])
            if not row["entry"]:
                continue
            entry = json.loads(row["entry"])
            with stops.critical():
                if progress is not None:
                    progress.note = ""
                if info["models"] is None:
                    info["models"] = entry["models"]
                    info["engine"] = entry.get("engine", "")
                    out.check_models(entry["models"])
                out.record(entry)
                stats.add(entry)
                if progress is not None:
                    progress.commit(entry["read"])
    return info


def stop_ray(local: bool = False) -> None:
    """ray.shutdown(); for a local Ray (started by us), its workers that outlive it are ended.

    Ray's workers notice that their raylet is gone only between calls, so one in the middle of
    a chunk goes on scoring for a while after the shutdown (a minute was seen on a busy
    machine): our own child processes, ended by their ids."""
    ours = _descendants(os.getpid()) if local else set()
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except Exception:
        log.exception("ray.shutdown failed")
    for pid in ours:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if not fh.read().startswith(b"ray::"):
                    continue
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _descendants(root: int) -> set[int]:
    """Process ids below `root` (Linux /proc; empty elsewhere)."""
    parent: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                parent[int(name)] = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        for child, pp in parent.items():
            if pp == pid and child not in out:
                out.add(child)
                frontier.append(child)
    return out


__all__ = ["ScoreChunks", "default_workers", "ray_unavailable_reason", "run_ray", "start_ray", "stop_ray"]
