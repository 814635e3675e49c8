"""The gateway core: Call, Outcome, stages and Gateway.call."""

from pasarela.pipeline.authorize import Authorizer, AuthorizeStage, Decision, PolicyRef
from pasarela.pipeline.call import Call, Door, Next, Outcome, Stage, Via
from pasarela.pipeline.gateway import Gateway
from pasarela.pipeline.validate import ValidateStage

__all__ = [
    "AuthorizeStage",
    "Authorizer",
    "Call",
    "Decision",
    "Door",
    "Gateway",
    "Next",
    "Outcome",
    "PolicyRef",
    "Stage",
    "ValidateStage",
    "Via",
]
