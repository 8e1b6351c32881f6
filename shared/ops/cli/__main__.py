"""``python -m shared.ops.cli``: the ``payhook`` command without its console script."""

from shared.ops.cli import main

main()
