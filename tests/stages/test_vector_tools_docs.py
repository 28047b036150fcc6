"""The examples of docs/vector-tools.md (align, bias, export --normalize, embed, plot) run and print what the
page shows.

Each ``embedpipe ...`` line of the bash blocks in the sections "Aligning two
models", "Bias probes", "Sentence and document vectors" and "Maps of the space"
runs on a small vectors table with a ``glove`` and
an ``sgns`` model (the demo's names and sizes differ; the commands are the
page's own). Where the page shows the output, the report's lines that
are not list entries (indented) must begin as the page's do.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from embedpipe.bias import read_pairs, read_weat_sets, read_words
from embedpipe.cli import main

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "conf" / "demo.yaml")
SECTIONS = ("## Aligning two models", "## Bias probes", "## Sentence and document vectors", "## Maps of the space")


def _section(readme: str, heading: str) -> str:
    start = readme.index(heading + "\n")
    end = readme.find("\n## ", start + len(heading))
    return readme[start : end if end >= 0 else len(readme)]


def examples() -> list[tuple[str, str | None]]:
    """(command, the output block that follows its bash block or None) for each documented example."""
    readme = (REPO / "docs" / "vector-tools.md").read_text(encoding="utf-8")
    found = []
    for heading in SECTIONS:
        blocks = re.findall(r"```(\w*)\n(.*?)```", _section(readme, heading), flags=re.S)
        for i, (lang, body) in enumerate(blocks):
            if lang != "bash":
                continue
            commands = [line.split(" #")[0].strip() for line in body.splitlines() if line.startswith("embedpipe ")]
            following = blocks[i + 1] if i + 1 < len(blocks) and blocks[i + 1][0] == "" else None
            for j, cmd in enumerate(commands):
                found.append((cmd, following[1] if following is not None and j == len(commands) - 1 else None))
    return found


def _skeleton(text: str) -> list[str]:
    """The first word of each line that is not a list entry (list entries are indented)."""
    return [(line.split() or [""])[0] for line in text.splitlines() if not line.startswith(" ")]


@pytest.fixture(scope="module")
def root(spark, tmp_path_factory) -> str:
    """sgns (dim 16) and glove (dim 12, a noisy linear image of sgns) holding every shipped bias word."""
    from embedpipe.vectors import write_vectors

    data = REPO / "embedpipe" / "data" / "bias"
    words = [w.lower() for s in read_weat_sets().sets.values() for w in s]
    words += [w.lower() for pair in read_pairs(str(data / "gender_pairs.txt")) for w in pair]
    words += read_words(str(data / "occupations.txt"))
    words = list(dict.fromkeys(words)) + [f"w{i}" for i in range(1500)]
    rng = np.random.default_rng(51)
    sgns = rng.normal(size=(len(words), 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    glove = sgns @ q[:, :12] + 0.05 * rng.normal(size=(len(words), 12))
    out = str(tmp_path_factory.mktemp("readme") / "out")
    for model, matrix in (("sgns", sgns), ("glove", glove)):
        write_vectors(spark, out, model=model, run_id=f"run-{model}", words=words, matrix=matrix.astype(np.float32),
                      counts=np.arange(len(words), 0, -1), metadata={"config": {}})  # fmt: skip
    return out


def test_the_readme_has_examples_with_output():
    found = examples()
    commands = [shlex.split(c)[1] for c, _ in found]
    assert {"align", "bias", "export", "embed", "plot"} <= set(commands)
    assert sum(out is not None for _, out in found) >= 4


def test_readme_examples_run_in_order(root, tmp_path, capsys):
    # In the page's order, as a reader types them: a later example uses what an earlier one wrote
    # (export reads the model that align wrote).
    for command, shown in examples():
        args = shlex.split(command)[1:]
        args = [DEMO if a == "conf/demo.yaml" else a for a in args]
        if "--out" in args:  # a file of the example goes to tmp_path
            i = args.index("--out") + 1
            args[i] = str(tmp_path / Path(args[i]).name)
        capsys.readouterr()
        code = main([*args, "--set", f"output.path={root}", "-q"])
        out, err = capsys.readouterr()
        assert code == 0, f"{command}: {err}"
        if shown is not None:
            assert _skeleton(out) == _skeleton(shown), f"{command}: {out}"
