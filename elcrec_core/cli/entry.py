"""The ``elcrec`` executable's entry point: Ctrl-C while the command's modules import (torch alone takes a second
or more) ends with one line and status 130, as it does once the command runs (:func:`elcrec_core.cli.main.main`),
not with a traceback of the import it fell in."""

from __future__ import annotations

import sys


def main() -> int:
    """Import the command line and run it (:func:`elcrec_core.cli.main.main`); its exit status."""
    try:
        from elcrec_core.cli.main import main as command
    except KeyboardInterrupt:
        print("elcrec: interrupted", file=sys.stderr)
        return 130  # as a shell reports a process that SIGINT ended
    return command()


if __name__ == "__main__":  # python -m elcrec_core.cli.entry, the module pyproject.toml names
    sys.exit(main())
