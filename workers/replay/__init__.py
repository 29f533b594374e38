"""Replay recorded work and compare it with what was published; verify provenance chains."""
