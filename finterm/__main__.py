"""`python -m finterm` is the same as the `finterm` command."""

from finterm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
