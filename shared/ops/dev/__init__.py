"""``payhook dev``: the whole pipeline on a laptop (``stack``, run by ``session``), with PostgreSQL and Redis
embedded from pip-installed binaries and locked with generated passwords (``embedded``), children that die
with it (``lifetime``), and its settings kept in ``DIR/env`` for the commands run beside it (``envfile``)."""
