"""The engine: the only place that combines the pure core with the store, executor and timers."""

from coordinator.engine.coordinator import Engine
from coordinator.engine.registry import DefinitionRegistry
from coordinator.engine.secrets import EnvSecretSource, SecretSource

__all__ = ["DefinitionRegistry", "Engine", "EnvSecretSource", "SecretSource"]
