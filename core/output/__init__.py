"""Files out: SVG with its provenance, the contact sheet PNG, and atomic writes."""
