"""Jobs for files too large for one request: the body is streamed to disk, the batch
engine (``payer_rules.batch.run_batch``) evaluates it in a background thread, and the
caller polls the job and fetches the results file. Jobs run one at a time, in the order
submitted: the batch engine keeps its engine in module state, so two at once could mix
policy versions; each job runs on the engine (policy generation) in force when it was
submitted. Finished jobs are kept until ``max_jobs`` newer ones push them out.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Job:
    id: str
    dir: Path
    engine: Any
    generation: int
    payer: str | None
    status: str = "queued"
    summary: dict | None = None
    error: str | None = None

    @property
    def input(self) -> Path:
        return self.dir / "input"

    @property
    def output(self) -> Path:
        return self.dir / "results.jsonl"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "summary": self.summary, "error": self.error,
                "policy_generation": self.generation}


@dataclass
class Jobs:
    root: Path | None = None
    max_jobs: int = 20
    _jobs: dict[str, Job] = field(default_factory=dict)
    _queue: "queue.Queue[Job | None]" = field(default_factory=queue.Queue)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.root is None:
            self._tmp = tempfile.mkdtemp(prefix="payer-rules-jobs-")
            self.root = Path(self._tmp)
        self.root.mkdir(parents=True, exist_ok=True)

    def new(self, engine: Any, generation: int, payer: str | None) -> Job:
        job_id = uuid.uuid4().hex
        d = self.root / job_id
        d.mkdir()
        return Job(job_id, d, engine, generation, payer)

    def submit(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.status in ("done", "failed")]
            while len(self._jobs) > self.max_jobs and done:
                old = done.pop(0)
                self._jobs.pop(old.id, None)
                shutil.rmtree(old.dir, ignore_errors=True)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="payer-rules-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def discard(self, job: Job) -> None:
        shutil.rmtree(job.dir, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _run(self) -> None:
        from ..batch import run_batch
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.status = "running"
            try:
                summary = run_batch(str(job.input), str(job.output), engine=job.engine, payer=job.payer,
                                    workers=1, progress=False)
                job.summary = summary.to_dict()
                job.status = "done"
            except Exception as exc:  # the message names the kind, never claim data
                job.error = f"the job failed ({exc.__class__.__name__})"
                job.status = "failed"
            finally:
                job.engine = None  # the old policy generation can be freed

    def close(self) -> None:
        self._queue.put(None)
