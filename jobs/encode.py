"""spark-submit entry point for the encode stage.

    spark-submit jobs/encode.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's encode stage: the same code path as `embedpipe encode CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["encode", *sys.argv[1:]]))
