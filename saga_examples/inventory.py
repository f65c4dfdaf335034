"""The inventory service: holds stock for an order, and lets it go again.

    POST   /reservations                   {order_id, items: [{sku, qty}]} -> 201 {reservation_id, ...}
    DELETE /reservations/{reservation_id}  -> 200 {released: true}; 404 if unknown

Knob: an item with sku "OUT-OF-STOCK" is refused with 409, a business "no" the coordinator does not
retry: the saga rolls back.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from saga_examples.participant import BadRequest, Call, Participant, Reply, new_id

OUT_OF_STOCK = "OUT-OF-STOCK"


def create_app() -> Litestar:
    """A fresh inventory service with empty state."""
    service = Participant("inventory")
    reservations: dict[str, dict[str, Any]] = {}

    @service.endpoint("POST", "/reservations")
    def reserve(call: Call) -> Reply:
        """Hold the items for the order."""
        order_id = call.require("order_id", str)
        items = call.require("items", list)
        if not all(_is_item(item) for item in items):
            raise BadRequest("every item needs a string 'sku' and an integer 'qty'")
        if any(item["sku"] == OUT_OF_STOCK for item in items):
            return Reply(409, {"detail": "out of stock"})
        reservation_id = new_id("res")
        reservation = {"reservation_id": reservation_id, "order_id": order_id, "items": items}
        reservations[reservation_id] = reservation
        return Reply(201, reservation)

    @service.endpoint("DELETE", "/reservations/{reservation_id:str}")
    def release(call: Call) -> Reply:
        """Give the stock back. Unknown means nothing to undo: the coordinator counts 404 as done."""
        if reservations.pop(call.params["reservation_id"], None) is None:
            return Reply(404, {"detail": "no such reservation"})
        return Reply(200, {"released": True})

    return service.app(state=lambda: {"reservations": reservations})


def _is_item(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("sku"), str) and isinstance(item.get("qty"), int)
