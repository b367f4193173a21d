"""The web page served at `/`: a blueprint (page.py) and its static files (static/)."""
