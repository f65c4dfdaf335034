"""The shipping service: books a courier, ships the parcel, and tells the customer.

    POST   /couriers                 {order_id, address} -> 201 {booking_id, order_id, address}
    DELETE /couriers/{booking_id}    -> 200 {cancelled: true}; 404 if unknown
    POST   /shipments                {order_id, address, booking_id?} -> 201 {shipment_id, ...}
    DELETE /shipments/{shipment_id}  -> 200 {cancelled: true}; 404 if unknown
    POST   /confirmations            {order_id, shipment_id, email} -> 201 {confirmation_id, ...}

Knobs:
    address "nowhere"          refused with 409 (we do not deliver there), by /couriers and
                               /shipments: the saga rolls back, undoing the steps before.
    email at "@bounce.example" the mail relay answers 503 to the first four attempts of one
                               execution (per Idempotency-Key), then sends: more than a retry
                               budget of three, so an operator's retry carries it forward.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Litestar

from saga_examples.participant import Call, Participant, Reply, new_id

UNDELIVERABLE = "nowhere"
BOUNCING_DOMAIN = "@bounce.example"
BOUNCES = 4


def create_app() -> Litestar:
    """A fresh shipping service with empty state."""
    service = Participant("shipping")
    couriers: dict[str, dict[str, Any]] = {}
    shipments: dict[str, dict[str, Any]] = {}
    confirmations: dict[str, dict[str, Any]] = {}
    bounced: Counter[str] = Counter()

    @service.endpoint("POST", "/couriers")
    def book_courier(call: Call) -> Reply:
        """Book a courier to pick the parcel up for the address."""
        order_id = call.require("order_id", str)
        address = call.require("address", str)
        if address.strip().lower() == UNDELIVERABLE:
            return Reply(409, {"detail": f"no courier delivers to {address!r}"})
        booking_id = new_id("cour")
        couriers[booking_id] = {"booking_id": booking_id, "order_id": order_id, "address": address}
        return Reply(201, couriers[booking_id])

    @service.endpoint("DELETE", "/couriers/{booking_id:str}")
    def cancel_courier(call: Call) -> Reply:
        """Cancel the booking; unknown means nothing to undo (404, which compensations accept)."""
        if couriers.pop(call.params["booking_id"], None) is None:
            return Reply(404, {"detail": "no such courier booking"})
        return Reply(200, {"cancelled": True})

    @service.endpoint("POST", "/shipments")
    def ship(call: Call) -> Reply:
        """Hand the parcel over (to the booked courier, when one is named)."""
        order_id = call.require("order_id", str)
        address = call.require("address", str)
        if address.strip().lower() == UNDELIVERABLE:
            return Reply(409, {"detail": f"we do not deliver to {address!r}"})
        shipment_id = new_id("shp")
        shipments[shipment_id] = {
            "shipment_id": shipment_id,
            "order_id": order_id,
            "address": address,
            "booking_id": call.optional("booking_id"),
        }
        return Reply(201, shipments[shipment_id])

    @service.endpoint("DELETE", "/shipments/{shipment_id:str}")
    def cancel(call: Call) -> Reply:
        """Cancel the shipment; unknown means nothing to undo (404, which compensations accept)."""
        if shipments.pop(call.params["shipment_id"], None) is None:
            return Reply(404, {"detail": "no such shipment"})
        return Reply(200, {"cancelled": True})

    @service.endpoint("POST", "/confirmations")
    def confirm(call: Call) -> Reply:
        """Email the customer that the parcel is on its way."""
        order_id = call.require("order_id", str)
        shipment_id = call.require("shipment_id", str)
        email = call.require("email", str)
        if email.lower().endswith(BOUNCING_DOMAIN):
            caller = call.idempotency_key or order_id
            bounced[caller] += 1
            if bounced[caller] <= BOUNCES:
                return Reply(503, {"detail": "mail relay unavailable, try again"})
        confirmation_id = new_id("conf")
        confirmations[confirmation_id] = {
            "confirmation_id": confirmation_id,
            "order_id": order_id,
            "shipment_id": shipment_id,
            "email": email,
        }
        return Reply(201, confirmations[confirmation_id])

    return service.app(state=lambda: {"couriers": couriers, "shipments": shipments, "confirmations": confirmations})
