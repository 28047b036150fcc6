"""spark-submit entry point for the neighbors stage.

    spark-submit jobs/neighbors.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's neighbors stage: the same code path as `embedpipe neighbors-table CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["neighbors-table", *sys.argv[1:]]))
