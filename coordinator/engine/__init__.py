"""The engine: the only place that combines the pure core with the store, executor and timers."""

from coordinator.engine.assembly import Engine
from coordinator.engine.bulk import MAX_BULK, BulkAction, BulkFilter, BulkOutcome, BulkReport
from coordinator.engine.calls import CallPool
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.registry import DefinitionRegistry
from coordinator.engine.secrets import EnvSecretSource, SecretSource
from coordinator.engine.service import SagaService

__all__ = [
    "MAX_BULK",
    "BulkAction",
    "BulkFilter",
    "BulkOutcome",
    "BulkReport",
    "CallPool",
    "Collaborators",
    "DefinitionRegistry",
    "Engine",
    "EnvSecretSource",
    "SagaService",
    "SecretSource",
]
