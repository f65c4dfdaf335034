"""Participant calls over httpx: one attempt in, one classified `StepOutcome` out."""

from coordinator.executor.classify import classify_response, classify_transport_error
from coordinator.executor.http import HttpStepExecutor, build_client
from coordinator.executor.policy import TargetPolicy

__all__ = ["HttpStepExecutor", "TargetPolicy", "build_client", "classify_response", "classify_transport_error"]
