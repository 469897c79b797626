"""``python -m gridoracle.cli``: the same as the ``gridoracle`` script."""

from gridoracle.cli.app import main

if __name__ == "__main__":
    main()
