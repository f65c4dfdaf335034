"""Example saga participants: inventory, payment and shipping, as small Litestar apps.

They are what the demo and the tests call, and what a newcomer reads to see what a participant must
do: honour `Idempotency-Key` (see `saga_examples.participant`), answer 2xx for success, a 4xx for a
business "no" (not retried), a 5xx or 429 with `Retry-After` for "try again later", and accept 404
on a compensation when there is nothing to undo.

Start them with `serve_examples()` (in-process, any event loop) or `python -m saga_examples`.
"""

from saga_examples.serve import DEFAULT_PORTS, SERVICES, RunningExamples, serve_examples

__all__ = ["DEFAULT_PORTS", "SERVICES", "RunningExamples", "serve_examples"]
