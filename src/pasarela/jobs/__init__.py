"""Durable jobs: a tool call stored now and run later by a worker, as the principal that started it."""

from pasarela.jobs.model import Job, JobStatus
from pasarela.jobs.service import Jobs
from pasarela.jobs.store import JobStore
from pasarela.jobs.worker import JobWorker

__all__ = ["Job", "JobStatus", "JobStore", "JobWorker", "Jobs"]
