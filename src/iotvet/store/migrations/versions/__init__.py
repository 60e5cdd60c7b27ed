"""Migration scripts, oldest first. Each is written out by hand: never generated from the live tables."""
