"""The NautilusTrader bridge (docs/nautilus.md): Nautilus signals in through Redis streams, regime
decisions and enriched signals out to them, gap-free in both directions."""
