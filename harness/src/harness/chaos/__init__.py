"""The chaos suite: fault scenarios against a real broker, compared with an uninterrupted reference."""
