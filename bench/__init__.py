"""The benchmark harness of the saga coordinator: `python -m bench` (see bench/README.md)."""
