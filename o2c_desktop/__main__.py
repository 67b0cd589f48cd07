"""`python -m o2c_desktop` does exactly what the `o2c-desktop` console script does."""

from o2c_desktop.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
