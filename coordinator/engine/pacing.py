"""How fast retention deletes: batch sizes and pauses, decided from what the batches took.

Pure arithmetic over measured durations and counts (the caller owns the clock), so every rule is
tested without a database:

- **Short transactions.** Each batch is sized so that its work (reads, archive, deletes: the
  store's `Purged.busy_s`, not the time it queued for a thread or a commit) takes about
  `target_batch_s`: the size is scaled by target / took after every batch (at most doubled, at
  least halved, within [`min_batch`, `max_batch`]; `max_batch` is SPEC's 1,000). On SQLite the
  delete of a batch is one write in the group commit, and the sagas' writes queued behind it wait
  for it. But each batch also waits its turn for the writer (100 ms to seconds on a saturated box),
  and a batch much shorter than that wait spends its cycle queueing rather than deleting: when the
  wait is longer than the target, the batch is sized to the wait instead. It then holds the writer
  about as long as a saga's write already waits for it: it may double that wait, not more.
- **A share of the time.** After a batch whose work took t the pacer pauses t x (1 - share) / share,
  less the time the batch waited for the writer (the sagas had it meanwhile), so retention works at
  most `share` of the wall time and the sagas get the rest.
- **Faster than the workload creates.** The share follows the number of stored executions: the
  caller reports it every few seconds (`observe_total`); while it still grows (the workload creates
  faster than retention deletes) the share goes up, up to `max_share`; once it falls by more than
  the backlog needs, the share comes back down towards `base_share`. So retention takes no more of
  the coordinator than it needs to keep the database from growing, and drains the backlog with the
  rest of `max_share`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BATCH = 1000
"""Executions per transaction at most (SPEC §8)."""


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    """The knobs of `Pacer`, with the defaults the coordinator runs with."""

    target_batch_s: float = 0.1
    min_batch: int = 10
    max_batch: int = MAX_BATCH
    first_batch: int = 50
    base_share: float = 0.1
    """Where a run starts, and the least it keeps: measured at 1M stored under the happy workload
    (quiet box), 0.3 deleted 2.9 x faster than SQLite's sagas were created, and cost them 30 %."""
    max_share: float = 0.6
    min_pause_s: float = 0.005
    drain_per_s: float = 10.0
    """The net shrinking (executions per second) the share is raised for beyond "not growing"."""


class Pacer:
    """The batch size and the pause of one retention run; fed each batch's duration and size."""

    def __init__(self, policy: PacingPolicy | None = None) -> None:
        self.policy = policy or PacingPolicy()
        self.batch = min(max(self.policy.first_batch, self.policy.min_batch), self.policy.max_batch)
        self.share = self.policy.base_share
        self._last_total: tuple[float, int] | None = None

    def after_batch(self, deleted: int, took_s: float, *, waited_s: float = 0.0) -> float:
        """Record a batch of `deleted` executions whose work took `took_s`, after waiting `waited_s`
        for the writer; the pause before the next.

        The next batch's size is scaled towards the target time, or towards the wait when that is
        longer (bounded, see the module). The wait counts as part of the pause: while retention
        waited, the sagas had the writer."""
        p = self.policy
        target = max(p.target_batch_s, waited_s)
        if deleted >= self.batch and took_s > 0:
            factor = min(2.0, max(0.5, target / took_s))
            self.batch = int(min(p.max_batch, max(p.min_batch, self.batch * factor)))
        elif took_s > target:  # a short batch that still took long: smaller next time
            self.batch = max(p.min_batch, self.batch // 2)
        return max(p.min_pause_s, took_s * (1 - self.share) / self.share - waited_s)

    def observe_total(self, at_s: float, total: int) -> None:
        """The number of stored executions at `at_s` (any monotonic clock): adjusts the share."""
        p = self.policy
        previous, self._last_total = self._last_total, (at_s, total)
        if previous is None or at_s <= previous[0]:
            return
        net_per_s = (total - previous[1]) / (at_s - previous[0])
        if net_per_s > -p.drain_per_s:  # growing, flat or shrinking too slowly: more of the time
            self.share = min(p.max_share, self.share * 1.25 + 0.02)
        elif net_per_s < -4 * p.drain_per_s:  # shrinking fast: give time back to the sagas
            self.share = max(p.base_share, self.share * 0.9)
