"""The source checkout's harnesses: demo, bench, chaos, the local broker and the one launcher
of worker processes; not part of the regime-fleet package a user installs."""
