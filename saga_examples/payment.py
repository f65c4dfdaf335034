"""The payment service: charges a card, and refunds the charge.

    POST /charges                     {order_id, amount, card} -> 201 {charge_id, order_id, amount}
    GET  /charges/{charge_id}         -> 200 {charge_id, order_id, amount, refunded}; 404 if unknown
    POST /charges/{charge_id}/refund  {amount?, reason?} -> 200 {refunded: true, ...}; 404 if unknown;
                                      409 if already refunded

Knobs (test card numbers, in the spirit of Stripe's):
    4000-0000-0000-0002  declined: 402, a business "no"; the saga rolls back without retrying.
    4000-0000-0000-0119  the processor is busy: 503 (no Retry-After, so the saga's backoff applies) on
                         the first two attempts under one Idempotency-Key, then success. Shows retries.
    4000-0000-0000-0341  the charge succeeds but its refunds answer 500: a compensation that cannot
                         be done, so the execution ends `failed` and needs an operator.
    4000-0000-0000-3220  3-D Secure: when the call carries `X-Saga-Callback-Url` (the saga declares
                         the step `async:`), the charge answers 202 {charge_id, status: "pending"}
                         and, a moment later (EXAMPLES_ASYNC_DELAY_MS, default 400), sends a
                         heartbeat, then calls back `succeeded` with {charge_id, order_id, amount,
                         status: "succeeded"}. Without the header it succeeds at once.
    amount > 10000       422: over the limit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from litestar import Litestar

from saga_examples.deferred import Outcome
from saga_examples.participant import Call, Participant, Reply, new_id

DECLINED = "4000-0000-0000-0002"
FLAKY = "4000-0000-0000-0119"
REFUNDS_FAIL = "4000-0000-0000-0341"
THREE_D_SECURE = "4000-0000-0000-3220"
LIMIT = 10000
FLAKY_FAILURES = 2


def create_app() -> Litestar:
    """A fresh payment service with empty state."""
    service = Participant("payment")
    charges: dict[str, dict[str, Any]] = {}
    busy_answers: Counter[str] = Counter()

    @service.endpoint("POST", "/charges")
    def charge(call: Call) -> Reply:
        """Charge the card."""
        order_id = call.require("order_id", str)
        amount = call.require("amount", float)
        card = call.require("card", str)
        if not 0 < amount <= LIMIT:
            return Reply(422, {"detail": f"amount must be above 0 and at most {LIMIT}"})
        if card == DECLINED:
            return Reply(402, {"detail": "card declined"})
        if card == FLAKY:
            # Counted per key: each saga execution sees two busy answers, then goes through.
            caller = call.idempotency_key or order_id
            busy_answers[caller] += 1
            if busy_answers[caller] <= FLAKY_FAILURES:
                return Reply(503, {"detail": "processor busy, try again"})
        charge_id = new_id("ch")
        pending = card == THREE_D_SECURE and call.callback_url is not None
        charges[charge_id] = {
            "charge_id": charge_id,
            "order_id": order_id,
            "amount": amount,
            "card": card,
            "refunded": False,
            "status": "pending" if pending else "succeeded",
        }
        answer = {"charge_id": charge_id, "order_id": order_id, "amount": amount}
        if pending and call.callback_url is not None:
            # The cardholder confirms with their bank; the coordinator hears back through the callback.
            service.deferred.start(call.idempotency_key or charge_id, call.callback_url, lambda: confirm(charge_id))
            return Reply(202, {**answer, "status": "pending"})
        return Reply(201, answer)

    def confirm(charge_id: str) -> Outcome:
        """3-D Secure passed: the pending charge goes through (unless it was refunded meanwhile)."""
        record = charges[charge_id]
        if record["refunded"]:
            return Outcome(False, error="the charge was cancelled before 3-D Secure finished")
        record["status"] = "succeeded"
        fields = ("charge_id", "order_id", "amount", "status")
        return Outcome(True, body={k: record[k] for k in fields})

    @service.endpoint("GET", "/charges/{charge_id:str}")
    def read(call: Call) -> Reply:
        """Look a charge up: a read, so it applies nothing."""
        record = charges.get(call.params["charge_id"])
        if record is None:
            return Reply(404, {"detail": "no such charge"}, applied=False)
        fields = ("charge_id", "order_id", "amount", "refunded")
        return Reply(200, {k: record[k] for k in fields}, applied=False)

    @service.endpoint("POST", "/charges/{charge_id:str}/refund")
    def refund(call: Call) -> Reply:
        """Give the money back, all of it unless a smaller `amount` is asked."""
        record = charges.get(call.params["charge_id"])
        if record is None:
            return Reply(404, {"detail": "no such charge"})
        if record["card"] == REFUNDS_FAIL:
            return Reply(500, {"detail": "refund processor unavailable"})
        if record["refunded"]:
            return Reply(409, {"detail": "already refunded"})
        amount = call.optional("amount", record["amount"])
        if not isinstance(amount, int | float) or not 0 < amount <= record["amount"]:
            return Reply(422, {"detail": f"refund amount must be above 0 and at most {record['amount']}"})
        record["refunded"] = True
        reason = call.optional("reason")
        answer = {"refunded": True, "charge_id": record["charge_id"], "amount": amount, "reason": reason}
        return Reply(200, answer)

    return service.app(state=lambda: {"charges": charges, "callbacks": [asdict(r) for r in service.deferred.reports]})
