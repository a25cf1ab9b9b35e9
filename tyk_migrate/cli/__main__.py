"""``python -m tyk_migrate.cli``: the same command as the ``tyk-migrate`` console script."""

from ..launch import main

main()
