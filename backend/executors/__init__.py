"""How jobs run: the executor seam, the in-process worker threads, the Celery front and worker, and
one job as the engine sees it."""
