"""Registering definitions (version resolution, immutability) and the compiled-spec cache."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from coordinator.core.spec import DEFAULT_ALERT_AFTER_MS, SagaSpec
from coordinator.definition import SecretExists, compile_definition, document_digest
from coordinator.errors import DefinitionConflict, SagaNotFound
from coordinator.ports import Clock, SagaStore, StoredDefinition

_REGISTER_RACE_RETRIES = 3


class DefinitionRegistry:
    """Turns documents into stored, immutable versions, and versions into compiled specs."""

    def __init__(
        self,
        store: SagaStore,
        clock: Clock,
        *,
        allow_target: Callable[[str], str | None] | None = None,
        secret_exists: SecretExists | None = None,
        default_alert_after_ms: int = DEFAULT_ALERT_AFTER_MS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._allow_target = allow_target
        self._secret_exists = secret_exists
        self._alert_after_ms = default_alert_after_ms
        self._specs: dict[tuple[str, int], SagaSpec] = {}

    async def register(self, document: Mapping[str, Any]) -> tuple[StoredDefinition, bool]:
        """Validate and store `document`; return the stored version and whether it is new.

        Without `version`, the body becomes latest + 1, unless it equals the latest body (then
        the latest is returned, unchanged). With `version`, an existing version with another
        body is a DefinitionConflict: versions are immutable.
        """
        digest = document_digest(document)
        explicit = document.get("version")
        for _ in range(_REGISTER_RACE_RETRIES):
            latest = await self._latest(document.get("name"))
            if explicit is None and latest is not None and latest.digest == digest:
                return latest, False
            if isinstance(explicit, int) and not isinstance(explicit, bool):
                version = explicit
            else:
                version = latest.version + 1 if latest is not None else 1
            spec = compile_definition(
                document,
                version=version,
                allow_target=self._allow_target,
                secret_exists=self._secret_exists,
                default_alert_after_ms=self._alert_after_ms,
            )
            stored_doc = {**document, "version": version}
            candidate = StoredDefinition(
                name=spec.name,
                version=version,
                document=stored_doc,
                digest=digest,
                created_at_ms=self._clock.now_ms(),
            )
            try:
                stored, created = await self._store.add_definition(candidate)
            except DefinitionConflict:
                if explicit is not None:
                    raise
                continue  # another registration took latest + 1 meanwhile: recompute
            self._specs[(stored.name, stored.version)] = spec
            return stored, created
        raise DefinitionConflict(f"saga {document.get('name')!r} is being registered concurrently; retry")

    async def _latest(self, name: object) -> StoredDefinition | None:
        if not isinstance(name, str):
            return None
        try:
            return await self._store.get_definition(name)
        except SagaNotFound:
            return None

    async def definition(self, name: str, version: int | None = None) -> StoredDefinition:
        """A stored version (latest when `version` is None)."""
        return await self._store.get_definition(name, version)

    async def spec(self, name: str, version: int) -> SagaSpec:
        """The compiled spec of a stored version; compiled once per process."""
        key = (name, version)
        cached = self._specs.get(key)
        if cached is None:
            stored = await self._store.get_definition(name, version)
            # Stored documents were valid at registration; no target policy re-check here, the
            # executor checks targets again at call time.
            cached = compile_definition(
                stored.document, version=stored.version, default_alert_after_ms=self._alert_after_ms
            )
            self._specs[key] = cached
        return cached
