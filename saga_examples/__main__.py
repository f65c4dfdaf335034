"""`python -m saga_examples`: run inventory, payment and shipping on ports 8101-8103 until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from saga_examples.serve import DEFAULT_PORTS, serve_examples


async def _serve_forever(host: str) -> None:
    async with serve_examples(host, DEFAULT_PORTS) as running:
        for name, url in running.urls.items():
            print(f"{name:<10} {url}")
        # The sagas/ files default to these ports; exporting keeps a changed --host working.
        print("\n" + " ".join(f"export {key}={value};" for key, value in running.env.items()))
        print("\nPress Ctrl-C to stop.", flush=True)
        # Ctrl-C cancels this task (asyncio.run sees to that); SIGTERM, as sent by a container
        # runtime, should stop the services just as cleanly.
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def main() -> None:
    """Parse the arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m saga_examples", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way out, not an error
        asyncio.run(_serve_forever(args.host))
    print("stopped")


if __name__ == "__main__":
    main()
