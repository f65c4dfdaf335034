"""The shipping service: books a courier for an order, and cancels the booking.

    POST   /shipments                {order_id, address} -> 201 {shipment_id, order_id, address}
    DELETE /shipments/{shipment_id}  -> 200 {cancelled: true}; 404 if unknown

Knob: the address "nowhere" is refused with 409 (we do not deliver there): the saga rolls back,
undoing the steps before this one.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from saga_examples.participant import Call, Participant, Reply, new_id

UNDELIVERABLE = "nowhere"


def create_app() -> Litestar:
    """A fresh shipping service with empty state."""
    service = Participant("shipping")
    shipments: dict[str, dict[str, Any]] = {}

    @service.endpoint("POST", "/shipments")
    def book(call: Call) -> Reply:
        """Book a courier to the address."""
        order_id = call.require("order_id", str)
        address = call.require("address", str)
        if address.strip().lower() == UNDELIVERABLE:
            return Reply(409, {"detail": f"we do not deliver to {address!r}"})
        shipment_id = new_id("shp")
        shipments[shipment_id] = {"shipment_id": shipment_id, "order_id": order_id, "address": address}
        return Reply(201, shipments[shipment_id])

    @service.endpoint("DELETE", "/shipments/{shipment_id:str}")
    def cancel(call: Call) -> Reply:
        """Cancel the booking; unknown means nothing to undo (404, which compensations accept)."""
        if shipments.pop(call.params["shipment_id"], None) is None:
            return Reply(404, {"detail": "no such shipment"})
        return Reply(200, {"cancelled": True})

    return service.app(state=lambda: {"shipments": shipments})
