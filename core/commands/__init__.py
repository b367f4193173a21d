"""`sketchify sketch` and `sketchify evaluate`: flags, checks before torch, the batch runner,
progress bars, atomic files, the recognition protocol."""
