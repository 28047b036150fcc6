"""spark-submit entry point for the vocab stage.

    spark-submit jobs/vocab.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's vocab stage: the same code path as `embedpipe vocab CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["vocab", *sys.argv[1:]]))
