"""Operator code: the dead-letter service, the admin API and the ``payhook`` command (off the callback path)."""
