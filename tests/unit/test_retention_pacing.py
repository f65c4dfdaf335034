"""Retention's pacing (`engine.pacing`) and its archive line (`store.archive.archive_line`), as values."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from coordinator.engine.pacing import MAX_BATCH, Pacer, PacingPolicy
from coordinator.store.archive import archive_line


def test_batches_grow_while_they_are_quicker_than_the_target() -> None:
    pacer = Pacer(PacingPolicy(target_batch_s=0.04, first_batch=50))
    sizes = []
    for _ in range(6):
        pacer.after_batch(pacer.batch, took_s=pacer.batch * 0.0001)  # 0.1 ms per execution: 400 fit
        sizes.append(pacer.batch)
    assert sizes[:3] == [100, 200, 400]  # at most doubled per batch
    assert sizes[-1] == 400  # then held at what fits the target


def test_batches_shrink_when_a_batch_takes_longer_than_the_target() -> None:
    pacer = Pacer(PacingPolicy(target_batch_s=0.04, first_batch=400))
    pacer.after_batch(400, took_s=1.0)
    assert pacer.batch == 200  # at most halved per batch
    for _ in range(10):
        pacer.after_batch(pacer.batch, took_s=1.0)
    assert pacer.batch == 10  # never below the floor


def test_a_short_slow_batch_shrinks_the_next_one() -> None:
    pacer = Pacer(PacingPolicy(target_batch_s=0.04, first_batch=100))
    pacer.after_batch(3, took_s=0.5)
    assert pacer.batch == 50


def test_a_long_wait_for_the_writer_sizes_the_batch_to_it_and_counts_as_pause() -> None:
    pacer = Pacer(PacingPolicy(target_batch_s=0.1, first_batch=50, base_share=0.5, min_pause_s=0.005))
    assert pacer.after_batch(50, took_s=0.1, waited_s=0.0) == 0.1  # share 0.5: pause as long as the work
    assert pacer.batch == 50
    # The batch queued 0.4 s behind the sagas' writes: the sagas had the writer meanwhile (no pause
    # beyond the floor), and the next batch may be as long as that wait.
    assert pacer.after_batch(50, took_s=0.1, waited_s=0.4) == 0.005
    assert pacer.batch == 100
    assert pacer.after_batch(100, took_s=0.2, waited_s=0.4) == 0.005
    assert pacer.batch == 200


@given(st.lists(st.tuples(st.integers(0, 5000), st.floats(0.0, 10.0)), max_size=60))
def test_the_batch_never_exceeds_the_cap_and_the_pause_keeps_the_share(batches: list[tuple[int, float]]) -> None:
    pacer = Pacer()
    for deleted, took in batches:
        pause = pacer.after_batch(min(deleted, pacer.batch), took)
        assert 1 <= pacer.batch <= MAX_BATCH
        assert pause >= pacer.policy.min_pause_s
        assert took <= (took + pause) * pacer.share + 1e-9  # retention works at most `share` of the time


def test_the_share_rises_while_the_database_grows_and_falls_back_when_it_shrinks_fast() -> None:
    policy = PacingPolicy(base_share=0.3, max_share=0.6, drain_per_s=10)
    pacer = Pacer(policy)
    total = 100_000
    pacer.observe_total(0.0, total)
    shares = []
    for second in range(5, 60, 5):
        total += 5 * 40  # the workload creates 40/s more than retention deletes
        pacer.observe_total(float(second), total)
        shares.append(pacer.share)
    assert shares == sorted(shares) and shares[0] > 0.3 and shares[-1] == 0.6
    for second in range(60, 200, 5):
        total -= 5 * 100  # now it shrinks by 100/s
        pacer.observe_total(float(second), total)
    assert pacer.share == 0.3
    pacer.observe_total(200.0, total - 5 * 20)  # shrinking, but slower than 4 x drain_per_s: held
    assert pacer.share == 0.3


def test_an_archive_line_reads_as_the_decoded_rows() -> None:
    execution = {"id": "e-1", "status": "completed", "input": '{"note":"żółw","n":[1,2]}', "trace_context": "{}"}
    steps = [
        {"execution_id": "e-1", "idx": 1, "name": "b", "response": None, "last_exchange": '{"status":201}'},
        {"execution_id": "e-1", "idx": 0, "name": "a", "response": '"ok"', "last_exchange": None},
    ]
    history = [{"execution_id": "e-1", "seq": 2, "request": '{"h":{"a":"***"}}'}, {"execution_id": "e-1", "seq": 1}]

    line = archive_line(execution, steps, history)

    assert "\n" not in line
    assert json.loads(line) == {
        "execution": {"id": "e-1", "status": "completed", "input": {"note": "żółw", "n": [1, 2]}, "trace_context": {}},
        "steps": [
            {"execution_id": "e-1", "idx": 0, "name": "a", "response": "ok", "last_exchange": None},
            {"execution_id": "e-1", "idx": 1, "name": "b", "response": None, "last_exchange": {"status": 201}},
        ],
        "history": [
            {"execution_id": "e-1", "seq": 1},
            {"execution_id": "e-1", "seq": 2, "request": {"h": {"a": "***"}}},
        ],
    }
    assert json.loads(archive_line({"input": "[]"}, [], [])) == {"execution": {"input": []}, "steps": [], "history": []}
