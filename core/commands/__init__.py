"""`sketchify sketch` and `sketchify evaluate`: flags, checks before torch, the batch runner,
progress bars, the recognition protocol."""
