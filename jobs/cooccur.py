"""spark-submit entry point for the cooccur stage.

    spark-submit jobs/cooccur.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's cooccur stage: the same code path as `embedpipe cooccur CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["cooccur", *sys.argv[1:]]))
