"""Every question about a path or URI in one place.

``output.path`` and ``input.path`` may be local paths or URIs (``file:``,
``s3a://``, ``abfss://``, ``hdfs://``, ``dbfs:/``, ``viewfs://`` ...). Only
Spark and Hadoop can read and write most of them; Python's own file I/O works
only where :func:`local_path` returns a path.
"""

from __future__ import annotations

import re

__all__ = ["is_local", "join", "local_path", "scheme"]

# A URI scheme: a letter, then letters, digits, "+", "-" or ".", then ":".
# One letter is a Windows drive ("C:\\"), not a scheme.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")


def local_path(path: str) -> str | None:
    """The local filesystem path that ``path`` names, or None when it is a
    URI that only Spark or Hadoop can reach.

    >>> local_path("/tmp/run"), local_path("file:///tmp/run"), local_path("file:/tmp/run")
    ('/tmp/run', '/tmp/run', '/tmp/run')
    >>> local_path("s3a://bucket/run") is None, local_path("dbfs:/run") is None
    (True, True)
    """
    m = _SCHEME.match(path)
    if m is None:
        return path
    if m.group(1).lower() != "file":
        return None
    rest = path[m.end() :]
    # file:///tmp/x and file://localhost/tmp/x have an (empty or local) authority; file:/tmp/x has none.
    if rest.startswith("//"):
        rest = rest[2:]
        slash = rest.find("/")
        rest = rest[slash:] if slash >= 0 else "/"
    return rest


def scheme(path: str) -> str | None:
    """The lower-cased URI scheme of ``path``, or None for a plain path.

    >>> scheme("s3a://bucket/run"), scheme("dbfs:/run"), scheme("/tmp/run"), scheme("C:\\\\run")
    ('s3a', 'dbfs', None, None)
    """
    m = _SCHEME.match(path)
    return None if m is None else m.group(1).lower()


def is_local(path: str) -> bool:
    """Whether Python's own file I/O can reach ``path``."""
    return local_path(path) is not None


def join(root: str, *parts: str) -> str:
    """``root/part/...`` for a path or a URI (never ``os.path.join``, which breaks URIs' slashes on Windows
    and knows nothing of schemes)."""
    out = root.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out
