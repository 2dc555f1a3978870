"""``python -m femvalid``: the same as the ``femvalid`` command."""

from femvalid.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
