"""The benchmark's scenarios: what each saga does, what the participant answers, what must be counted.

One table drives all three processes: the harness writes the saga definitions from it, the
participant decides its answers from the request path (and, for `retry`, from how often it has seen
the request's Idempotency-Key), and the floor driver replays exactly the same calls without a
coordinator. After every cell the harness checks the participant's counts against `expected_calls`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STEPS = 3
"""Every scenario's saga has three steps, `s1`..`s3`, each with a compensation."""

RETRY_MAX_ATTEMPTS = 3
RETRY_INTERVAL_MS = 10
RETRY_FAILURES = 2
"""`retry`: the second step answers 503 to the first two attempts of each key, then 201."""

SLOW_DELAY_S = 0.050
"""`slow` and `group`: the participant takes 50 ms on every call."""

FAIL_COMPENSATION_ATTEMPTS = 2
"""`fail`: the second step's compensation answers 500 to each of its attempts, so the rollback gives
up after this many and the execution ends `failed` (it then needs attention)."""

STEP_TIMEOUT = "20s"
RECOVER_TIMEOUT = "600s"
"""`recover`'s first step is held open by the participant until the harness opens the gate."""

WAIT = "30s"
"""`?wait=` on every start: the driver gets the terminal execution in the response."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One benchmark scenario: a 3-step saga and the participant's behaviour on its paths."""

    name: str
    expected_status: str
    """The terminal status every execution of this scenario must reach."""
    description: str

    @property
    def saga(self) -> str:
        """The saga's registered name."""
        return f"bench-{self.name}"

    def action_path(self, step: int) -> str:
        """The participant path of step `step`'s forward call (1-based)."""
        return f"/{self.name}/s{step}"

    def compensation_path(self, step: int) -> str:
        """The participant path of step `step`'s compensation (1-based)."""
        return f"/{self.name}/s{step}/undo"

    def expected_calls(self) -> dict[str, int]:
        """Per participant path: how many times each execution's key must have been seen there."""
        if self.name == "rollback":
            return {
                self.action_path(1): 1,
                self.action_path(2): 1,
                self.action_path(3): 1,
                self.compensation_path(2): 1,
                self.compensation_path(1): 1,
            }
        if self.name == "retry":
            return {self.action_path(1): 1, self.action_path(2): RETRY_FAILURES + 1, self.action_path(3): 1}
        if self.name == "fail":
            return {
                self.action_path(1): 1,
                self.action_path(2): 1,
                self.action_path(3): 1,
                self.compensation_path(2): FAIL_COMPENSATION_ATTEMPTS,
            }
        return {self.action_path(step): 1 for step in range(1, STEPS + 1)}

    @property
    def parallel(self) -> bool:
        """Whether the three steps are one parallel group (their calls run side by side)."""
        return self.name == "group"

    @property
    def delay_s(self) -> float:
        """How long the participant takes on each call of this scenario."""
        return SLOW_DELAY_S if self.name in ("slow", "group") else 0.0

    @property
    def calls_per_saga(self) -> int:
        """Participant calls one execution makes."""
        return sum(self.expected_calls().values())


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("happy", "completed", "3 steps, every call answers 201"),
        Scenario("rollback", "compensated", "the third step answers 409: 2 compensations, newest first"),
        Scenario("retry", "completed", "the second step answers 503 twice (fixed 10 ms backoff), then 201"),
        Scenario("slow", "completed", "3 steps, every call takes 50 ms"),
        Scenario("group", "completed", "3 steps in one parallel group, every call takes 50 ms"),
        Scenario("recover", "completed", "the first step is held open until the harness opens the gate"),
        Scenario(
            "fail", "failed", "the third step answers 409 and the compensation of the second 500, so it ends failed"
        ),
    )
}

MEASURED = ("happy", "rollback", "retry", "slow", "group")
"""The scenarios of the throughput suite (`recover` belongs to the recovery part, `fail` seeds the
executions needing attention of the api part)."""

KEY_TEMPLATE = "{{ input.i }}"
"""Every scenario's business key: the driver's `i` (`<prefix>-<n>`), distinct per execution."""


def participant_answer(scenario: str, step: str, compensation: bool, seen: int) -> int:
    """The status the participant answers; `seen` counts this key on this path, this call included."""
    if compensation:
        return 500 if scenario == "fail" and step == "s2" else 200
    if scenario in ("rollback", "fail") and step == "s3":
        return 409
    if scenario == "retry" and step == "s2" and seen <= RETRY_FAILURES:
        return 503
    return 201


def saga_yaml(scenario: Scenario, participant_url: str) -> str:
    """The scenario's definition (SPEC §2 format), calling the participant at `participant_url`."""
    timeout = RECOVER_TIMEOUT if scenario.name == "recover" else STEP_TIMEOUT
    lines = [
        f"name: {scenario.saga}",
        "version: 1",
        f"description: 'benchmark: {scenario.description}'",
        f'key: "{KEY_TEMPLATE}"',
        "defaults:",
        f"  timeout: {timeout}",
        f"  retry: {{max_attempts: {RETRY_MAX_ATTEMPTS}, initial_interval: {RETRY_INTERVAL_MS}ms, multiplier: 1,"
        " jitter: none}",
    ]
    if scenario.name == "fail":
        lines.append(
            f"  compensation_retry: {{max_attempts: {FAIL_COMPENSATION_ATTEMPTS}, initial_interval: "
            f"{RETRY_INTERVAL_MS}ms, multiplier: 1, jitter: none}}"
        )
    lines.append("steps:")
    indent = "  "
    if scenario.parallel:
        lines += ["  - parallel:", "      name: all", "      steps:"]
        indent = "        "
    for step in range(1, STEPS + 1):
        lines += [
            f"{indent}- name: s{step}",
            f"{indent}  action:",
            f"{indent}    method: POST",
            f'{indent}    url: "{participant_url}{scenario.action_path(step)}"',
            f'{indent}    body: {{i: "{{{{ input.i }}}}"}}',
            f"{indent}  compensation:",
            f"{indent}    method: DELETE",
            f'{indent}    url: "{participant_url}{scenario.compensation_path(step)}"',
        ]
    return "\n".join(lines) + "\n"


def write_sagas(directory: Path, participant_url: str, names: tuple[str, ...] = tuple(SCENARIOS)) -> None:
    """Write one YAML definition per scenario into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / f"{SCENARIOS[name].saga}.yaml").write_text(saga_yaml(SCENARIOS[name], participant_url))
