"""The `regime-fleet` command line."""
