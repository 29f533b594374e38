"""A local Redis server for the Nautilus bridge's demo and tests (harness only)."""
