"""`regime-fleet run trainer`: the trainer job runner (workers/trainer/service.py)."""

from workers.trainer.service import build

__all__ = ["build"]
