"""Photos in: reading images safely, object masks, and the canvas <-> photo mapping."""
