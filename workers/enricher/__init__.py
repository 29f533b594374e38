"""The enricher: trading signals in, signals with meta-model confidence, VPIN toxicity and
regime weight out (docs/enrichment.md)."""
