"""``embedpipe bias`` end to end on a small vectors table with planted biases (real Spark and Delta)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedpipe import Vectors, tables
from embedpipe.bias import read_pairs, read_weat_sets, read_words
from embedpipe.cli import main
from embedpipe.kernels.weat import definitional_direction, effect_size

REPO = Path(__file__).resolve().parents[2]
DEMO = str(REPO / "conf" / "demo.yaml")
DIM = 24
FEMALE_JOBS, MALE_JOBS = ["nurse", "librarian"], ["engineer", "carpenter"]


def _planted() -> tuple[Vectors, np.ndarray]:
    """Every shipped word, flowers and pleasant words along one axis, insects and unpleasant words against it,
    and a gender axis along which the definitional pairs and some occupations lie; one insect is missing."""
    rng = np.random.default_rng(31)
    sets = read_weat_sets()
    words: list[str] = []
    for name in sets.sets.values():
        words += [w.lower() for w in name if w.lower() not in words]
    for s, h in read_pairs(str(REPO / "embedpipe/data/bias/gender_pairs.txt")):
        words += [w.lower() for w in (s, h) if w.lower() not in words]
    words += [w for w in read_words(str(REPO / "embedpipe/data/bias/occupations.txt")) if w not in words]
    words.remove("weevil")
    matrix = rng.normal(size=(len(words), DIM))
    valence, gender = np.eye(DIM)[0], np.eye(DIM)[1]
    for group, sign in (("flowers", 1), ("pleasant", 1), ("insects", -1), ("unpleasant", -1)):
        for w in sets.sets[group]:
            if w in words:
                matrix[words.index(w)] += 3 * sign * valence
    for s, h in read_pairs(str(REPO / "embedpipe/data/bias/gender_pairs.txt")):
        matrix[words.index(s.lower())] += 3 * gender
        matrix[words.index(h.lower())] -= 3 * gender
    for w in FEMALE_JOBS:
        matrix[words.index(w)] += 8 * gender
    for w in MALE_JOBS:
        matrix[words.index(w)] -= 8 * gender
    return Vectors.from_arrays(words, matrix, counts=np.arange(len(words), 0, -1), model="sgns"), gender


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_bias_cli_finds_planted_biases_appends_rows_and_debiases(spark, tmp_path, capsys):
    from embedpipe.vectors import write_vectors

    v, gender = _planted()
    root = str(tmp_path / "out")
    write_vectors(spark, root, model="sgns", run_id="run-s", words=v.words, counts=v.counts, matrix=v.matrix,
                  metadata={"config": {}})  # fmt: skip
    over = ["--set", f"output.path={root}", "-q", "--set", "bias.permutations=2000", "--set", "bias.top=2"]
    code, out, err = run_cli(capsys, "bias", DEMO, "--model", "sgns", "--json", *over)
    assert code == 0, err
    st = json.loads(out)["stats"]
    weat = {r["test"]: r for r in st["weat"]}
    assert list(weat) == ["flowers_insects", "instruments_weapons", "career_family", "math_arts", "science_arts"]
    fi = weat["flowers_insects"]
    assert fi["effect_size"] > 1.5 and fi["p_value"] < 0.01 and fi["exact"] is False
    assert fi["n_found"] == 99 and fi["n_words"] == 100 and fi["missing"] == ["weevil"]
    sets = read_weat_sets()
    x, y, a, b = (v[[w for w in sets.sets[s] if w in v]] for s in sets.tests["flowers_insects"])
    assert abs(fi["effect_size"] - effect_size(x, y, a, b)) < 1e-9
    assert abs(weat["instruments_weapons"]["effect_size"]) < 1.0  # nothing planted
    assert weat["career_family"]["exact"] is True and weat["career_family"]["partitions"] == 12870
    d = st["direction"]
    assert d["pairs_found"] == 10 and d["share"] > 0.3  # random pairs give about 0.15 at this size
    assert {w for w, _ in d["projections"][:2]} == set(FEMALE_JOBS)
    assert {w for w, _ in d["projections"][-2:]} == set(MALE_JOBS)

    # The same seed gives the same p-values; each run appends its rows.
    code, out, err = run_cli(capsys, "bias", DEMO, "--model", "sgns", *over)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "WEAT on sgns (run run-s); p-values one-sided, seed 1"
    assert lines[2].split() == ["test", "effect", "p-value", "words"]
    first = lines[3].split()
    assert first[0] == "flowers_insects" and float(first[2]) == round(fi["p_value"], 4) and first[3] == "99/100"
    assert any(line.split()[:1] == ["nurse"] or line.split()[:1] == ["librarian"] for line in lines)
    df = tables.read(spark, root, "bias")
    rows = df.filter("test = 'flowers_insects'").orderBy("time").collect()
    assert len(rows) == 2 and rows[0]["p_value"] == rows[1]["p_value"] and rows[0]["run_id"] != rows[1]["run_id"]
    assert rows[0]["model"] == "sgns" and rows[0]["model_run_id"] == "run-s" and rows[0]["n_found"] == 99
    assert df.count() == 10

    # Neutralize: the listed words lose their gender component; all vectors are unit length.
    words = tmp_path / "jobs.txt"
    words.write_text("nurse\nengineer\nnot_a_word\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "bias", DEMO, "--model", "sgns", "--words", str(words), "--name", "sgns-fair",
                             "--set", "bias.debias=neutralize", *over)  # fmt: skip
    assert code == 0, err
    assert "wrote model sgns-fair" in out and "2/3 words projected" in out
    fair = Vectors.from_table(root, model="sgns-fair")
    assert fair.words == v.words and fair.metadata["stage"] == "bias"
    assert np.allclose(np.linalg.norm(fair.matrix, axis=1), 1, atol=1e-5)
    pairs = read_pairs(str(REPO / "embedpipe/data/bias/gender_pairs.txt"))
    g, _ = definitional_direction(fair[[s for s, _ in pairs]], fair[[h for _, h in pairs]])  # pairs kept as they were
    for w in ("nurse", "engineer"):
        assert abs(float(fair[w] @ g)) < 1e-5 < abs(float(v.unit()[v.row(w)] @ g)) - 0.3
    assert float(fair["librarian"] @ g) > 0.3  # a word not listed keeps its lean
    assert np.allclose(fair["librarian"], v.unit()[v.row("librarian")], atol=1e-6)

    # A user's own sets: the shipped targets swapped reverse the effect's sign.
    shipped = read_weat_sets()
    own = tmp_path / "my_weat.txt"
    own.write_text(
        "".join(
            f"set {name}: {' '.join(shipped.sets[name])}\n" for name in ("flowers", "insects", "pleasant", "unpleasant")
        )
        + "# targets X Y, attributes A B\ntest insects_flowers: insects flowers pleasant unpleasant\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "bias", DEMO, "--model", "sgns", "--json", *over,
                             "--set", f"bias.sets={own}", "--set", "bias.tests=[insects_flowers]")  # fmt: skip
    assert code == 0, err
    (mine,) = json.loads(out)["stats"]["weat"]
    assert mine["test"] == "insects_flowers" and mine["n_found"] == 99
    assert mine["effect_size"] == pytest.approx(-fi["effect_size"], abs=1e-9)


def test_bias_refuses_bad_settings_before_spark(tmp_path):
    root = str(tmp_path / "out")
    own = tmp_path / "my_weat.txt"
    own.write_text("set a: x y\nset b: z w\ntest mine: a b a b\n", encoding="utf-8")
    cases = [
        (["--model", "sgns", "--set", "bias.tests=[flowers_insects,nope]"], "unknown test 'nope'"),
        (["--model", "sgns", "--set", "bias.permutations=5"], "bias.permutations must be >= 100"),
        (
            ["--model", "sgns", "--set", f"bias.sets={own}"],
            f"unknown test 'flowers_insects'; the tests of {own} are ['mine']",
        ),
        (["--model", "sgns", "--set", f"bias.sets={tmp_path / 'none.txt'}"], "no WEAT sets file"),
        (["--model", "sgns", "--words", str(tmp_path / "none.txt")], "no word list file"),
        (["--model", "sgns", "--set", "bias.debias=neutralize", "--name", "glove"], "reserved for the trained"),
        (["--model", "sgns"], f"no Delta table at {root}"),
    ]
    code = (
        "import sys; from embedpipe.cli import main; rc = main(sys.argv[1:]); "
        "print('PYSPARK', 'pyspark' in sys.modules, file=sys.stderr); sys.exit(rc)"
    )
    for args, message in cases:
        done = subprocess.run(
            [sys.executable, "-c", code, "bias", DEMO, "--set", f"output.path={root}", *args],
            cwd=REPO, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert "PYSPARK False" in done.stderr, args


def test_shipped_word_sets_are_the_papers_sizes():
    sets = read_weat_sets()
    sizes = {name: len(words) for name, words in sets.sets.items()}
    for name in ("flowers", "insects", "instruments", "weapons", "pleasant", "unpleasant"):
        assert sizes[name] == 25, name
    for test in ("career_family", "math_arts", "science_arts"):
        assert [sizes[s] for s in sets.tests[test]] == [8, 8, 8, 8], test
    for words in sets.sets.values():
        assert len(set(words)) == len(words)
    assert len(read_pairs(str(REPO / "embedpipe/data/bias/gender_pairs.txt"))) == 10
