"""Jobs: a queue kept in SQLite and a small pool of runner threads, each job in its own process.

A job's life: queued -> running -> done | failed | cancelled. The store survives a server restart: queued and
finished jobs are still there, and a job that was running when the server died is marked failed with a message
(its staged output was never renamed, so no half-written result looks complete). Each job runs the segment or
follow-up workflow in a child process, so a crash cannot take the server down and cancelling can stop it at once;
the child writes its stage progress into the store.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesionwatch.io.atomic import remove_stale_staging

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', params TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Job:
    """A job as stored."""

    id: str
    kind: str
    status: str
    stage: str
    progress: float
    error: str
    params: dict[str, Any]
    created: float
    updated: float

    def public(self) -> dict[str, Any]:
        """What the API shows (no server paths)."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "stage": self.stage,
                "progress": round(self.progress, 3), "error": self.error, "created": self.created,
                "updated": self.updated, "studies": self.params.get("labels", [])}


class JobStore:
    """SQLite-backed job table under `root/jobs.sqlite`; job folders under `root/jobs/<id>/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "jobs").mkdir(exist_ok=True)
        self.db = self.root / "jobs.sqlite"
        self._lock = threading.Lock()
        with closing(self._connect()) as con, con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        return con

    def job_dir(self, job_id: str) -> Path:
        """The job's folder (the id is checked, so no request string ever becomes a path)."""
        if not JOB_ID.match(job_id):
            raise KeyError(job_id)
        return self.root / "jobs" / job_id

    def create(self, kind: str, params: dict[str, Any], job_id: str | None = None) -> Job:
        job_id = job_id or uuid.uuid4().hex
        now = time.time()
        with self._lock, closing(self._connect()) as con:
            con.execute("INSERT INTO jobs (id, kind, status, params, created, updated) "
                        "VALUES (?, ?, 'queued', ?, ?, ?)", (job_id, kind, json.dumps(params), now, now))
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with closing(self._connect()) as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return Job(row["id"], row["kind"], row["status"], row["stage"], row["progress"], row["error"],
                   json.loads(row["params"]), row["created"], row["updated"])

    def list(self) -> list[Job]:
        with closing(self._connect()) as con:
            ids = [r["id"] for r in con.execute("SELECT id FROM jobs ORDER BY created DESC")]
        return [self.get(i) for i in ids]

    def update(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "stage", "progress", "error"}
        if not set(fields) <= allowed:
            raise ValueError(f"cannot update {set(fields) - allowed}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock, closing(self._connect()) as con:
            con.execute(f"UPDATE jobs SET {sets}, updated = ? WHERE id = ?", (*fields.values(), time.time(), job_id))

    def claim_next(self) -> Job | None:
        """Atomically take the oldest queued job and mark it running."""
        with self._lock, closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            row = con.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1").fetchone()
            if row is None:
                con.execute("COMMIT")
                return None
            con.execute("UPDATE jobs SET status = 'running', stage = 'starting', updated = ? WHERE id = ?",
                        (time.time(), row["id"]))
            con.execute("COMMIT")
        return self.get(row["id"])

    def recover(self) -> int:
        """After a restart: jobs left running are marked failed (never silently lost); returns how many."""
        with self._lock, closing(self._connect()) as con:
            cur = con.execute("UPDATE jobs SET status = 'failed', error = ?, updated = ? WHERE status = 'running'",
                              ("the server stopped while this job was running; submit it again", time.time()))
            return int(cur.rowcount)

    def delete(self, job_id: str) -> None:
        folder = self.job_dir(job_id)
        with self._lock, closing(self._connect()) as con:
            con.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(folder, ignore_errors=True)


def die_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """End this process as soon as its parent `parent` (the server's process id) is gone, however the server ended
    (SIGKILL, the OOM killer), also when it is gone already: an orphaned job would otherwise run beside the
    restarted server's jobs and write a result into a job the store has marked failed."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _run_in_child(root: str, job_id: str, server_pid: int) -> None:
    """Child process: run the job's workflow, report stages into the store, record the outcome."""
    from lesionwatch.errors import LesionwatchError
    from lesionwatch.io.study import StudyInputs
    from lesionwatch.preprocessing.pipeline import PreprocessingConfig
    from lesionwatch.workflows.followup import LongitudinalConfig, run_followup
    from lesionwatch.workflows.preprocess import RunOptions
    from lesionwatch.workflows.segment import SegmentationConfig, run_segment

    die_with_parent(server_pid)
    store = JobStore(Path(root))
    job = store.get(job_id)
    folder = store.job_dir(job_id)
    params = job.params

    def on_stage(name: str, fraction: float) -> None:
        store.update(job_id, stage=name.replace("_", " "), progress=fraction)

    def inputs(study: dict[str, Any]) -> StudyInputs:
        paths = {k: folder / v for k, v in study["files"].items()}
        return StudyInputs(paths["flair"], paths.get("t1"), paths.get("t2"), paths.get("pd"),
                           series=dict(study.get("series", {})))

    options = RunOptions(force=True, progress=False, on_stage=on_stage, hide_paths_under=folder)
    segmentation = SegmentationConfig(method=params.get("method", "model"), threshold=params.get("threshold"))
    try:
        studies = [inputs(s) for s in params["studies"]]
        if job.kind == "segment":
            run_segment(studies[0], folder / "result", PreprocessingConfig(), segmentation, options)
        else:
            run_followup(studies, folder / "result", PreprocessingConfig(), segmentation, LongitudinalConfig(),
                         options, labels=params["labels"])
        if store.get(job_id).status == "running":  # not cancelled meanwhile
            store.update(job_id, status="done", stage="done", progress=1.0)
    except LesionwatchError as exc:
        # the workflow's messages name the server's files; show the user only the file's own name
        message = str(exc).replace(str(folder) + "/", "")
        store.update(job_id, status="failed", error=message)
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        store.update(job_id, status="failed", error=f"internal error ({type(exc).__name__}); see the server log")


class JobRunner:
    """`workers` threads that each take queued jobs and run them in child processes; cancel stops a job."""

    def __init__(self, store: JobStore, workers: int = 1, poll_s: float = 0.5) -> None:
        self.store, self.workers, self.poll_s = store, workers, poll_s
        self._stop = threading.Event()
        self._processes: dict[str, multiprocessing.process.BaseProcess] = {}
        self._threads: list[threading.Thread] = []
        self._ctx = multiprocessing.get_context("spawn")

    def start(self) -> None:
        self.store.recover()
        for folder in (self.store.root / "jobs").iterdir():  # staging left by jobs killed with a server
            remove_stale_staging(folder / "result")
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"lesionwatch-runner-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for process in list(self._processes.values()):
            process.terminate()
        for thread in self._threads:
            thread.join(timeout=5)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already finished."""
        job = self.store.get(job_id)
        if job.status not in ("queued", "running"):
            return False
        self.store.update(job_id, status="cancelled", stage="cancelled")
        process = self._processes.get(job_id)
        if process is not None:
            process.terminate()
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                self._stop.wait(self.poll_s)
                continue
            process = self._ctx.Process(target=_run_in_child, args=(str(self.store.root), job.id, os.getpid()),
                                        daemon=True)
            self._processes[job.id] = process
            process.start()
            process.join()
            self._processes.pop(job.id, None)
            # a cancelled or killed job leaves its staged output behind; its process has ended, so it goes
            remove_stale_staging(self.store.job_dir(job.id) / "result")
            try:
                final = self.store.get(job.id)
            except KeyError:  # deleted while it ran
                continue
            if final.status == "running":  # the child died without recording an outcome
                self.store.update(job.id, status="failed",
                                  error=f"the job stopped unexpectedly (exit code {process.exitcode})")
