"""Celery workers: drain the callback stream, normalize, deduplicate and apply status transitions."""
