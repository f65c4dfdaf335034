"""The web console (SPEC section 9): server-rendered pages at `/ui`, htmx for the live parts.

`build_console(settings)` gives the router and the template engine `api.app.create_app` mounts
when `settings.ui` is on. Every page reads and acts through `SagaService`, as the API does: no
second path to the database, no status logic of its own.
"""

from coordinator.console.app import Console, build_console

__all__ = ["Console", "build_console"]
