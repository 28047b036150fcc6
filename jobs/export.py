"""spark-submit entry point for the export stage.

    spark-submit jobs/export.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's export stage: the same code path as `embedpipe export CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
