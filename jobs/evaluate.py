"""spark-submit entry point for the evaluate stage.

    spark-submit jobs/evaluate.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's evaluate stage: the same code path as `embedpipe evaluate CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
