"""spark-submit entry point for the glove stage.

    spark-submit jobs/glove.py CONF [--set section.key=value ...]

Parses the arguments, loads and validates the config, gets the session and
calls the library's glove stage: the same code path as `embedpipe glove CONF`.
"""

import sys

from embedpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["glove", *sys.argv[1:]]))
