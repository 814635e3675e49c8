"""What happens to a job that is not a run of it, into the audit chain: who cancelled it, and a
job given up because its workers kept dying. (Its start and each run are recorded as calls.)"""

from __future__ import annotations

from pasarela.audit.stage import AuditStage
from pasarela.identity.principal import Principal
from pasarela.jobs.model import Job
from pasarela.pipeline.gateway import Gateway


def record(gateway: Gateway, principal: Principal, job: Job, outcome: str) -> None:
    """`outcome` (e.g. `job_cancelled`) by `principal`, under the job's start; nothing when the
    audit is off."""
    stage = next((s for s in gateway.stages if isinstance(s, AuditStage)), None)
    if stage is not None:
        stage.event(
            principal, job.tool, job.door, f"{job.id}-{outcome}", parent_id=job.request_id, outcome=outcome
        )
