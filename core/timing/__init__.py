"""How long things take, and how to say it."""
