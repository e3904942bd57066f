"""`python -m sasgda` runs the command-line tool."""

from sasgda.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
