"""Files out: SVG with its provenance, and the contact sheet PNG."""
