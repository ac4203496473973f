"""``python -m deepprior``: the command line, where the ``deepprior`` script is not on the PATH."""

from .cli import main

if __name__ == "__main__":  # not when a worker process of a folder run imports this module again
    raise SystemExit(main())
