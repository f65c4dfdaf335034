"""Saga coordinator: runs forward HTTP calls with compensations, durably."""

__version__ = "0.1.0"
