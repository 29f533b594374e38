"""The demo: real index data through the whole fleet, with a live per-symbol view."""
