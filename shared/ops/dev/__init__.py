"""``payhook dev``: the whole pipeline on a laptop (``stack``), with PostgreSQL and Redis embedded from
pip-installed binaries (``embedded``)."""
