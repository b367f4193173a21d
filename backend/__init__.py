"""Sketchify job service: a Flask app around the engine (depends on core, never the reverse)."""
