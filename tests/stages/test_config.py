"""Config: unknown keys rejected, ranges validated, overrides parsed as YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedpipe.config import build_config, load_config
from embedpipe.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_demo_config_loads_and_resolves_paths_against_its_folder():
    cfg = load_config(REPO / "conf" / "demo.yaml")
    assert cfg.output.path == str(REPO / "runs" / "demo")
    assert Path(cfg.input.path).is_file(), "the shipped sample is found through embedpipe://"
    assert cfg.stages == ("ingest", "vocab", "encode", "cooccur", "glove", "sgns", "evaluate")


def test_unknown_key_names_the_key_and_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key sgns\.dimm.*valid keys.*'dim'"):
        build_config({"sgns": {"dimm": 10}})


def test_unknown_section_is_rejected():
    with pytest.raises(ConfigError, match=r"unknown config section 'sgnss'"):
        build_config({"sgnss": {}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sgns": {"dim": 0}}, r"sgns\.dim must be in 1\.\.10000, got 0"),
        ({"sgns": {"negative": 0}}, r"sgns\.negative"),
        ({"sgns": {"sync_rounds": -1}}, r"sgns\.sync_rounds must be >= 1 \(or 0 for auto\)"),
        ({"sgns": {"sample": 1.5}}, r"sgns\.sample must be in \[0, 1\)"),
        ({"sgns": {"alpha": -0.1}}, r"sgns\.alpha must be > 0"),
        ({"sgns": {"alpha": 0.01, "min_alpha": 0.1}}, r"sgns\.min_alpha"),
        ({"glove": {"x_max": 0}}, r"glove\.x_max must be > 0"),
        ({"glove": {"power": 2}}, r"glove\.power must be in \(0, 1\]"),
        ({"vocab": {"min_count": 0}}, r"vocab\.min_count must be >= 1"),
        ({"spark": {"partitions": 0}}, r"spark\.partitions must be >= 1"),
        ({"sgns": {"epochs": "many"}}, r"sgns\.epochs must be an integer"),
        ({"sgns": {"architecture": "glove"}}, r"sgns\.architecture must be one of \['skipgram', 'cbow'\]"),
        ({"stages": ["ingest", "train"]}, r"unknown stage 'train'"),
    ],
)
def test_impossible_values_fail_before_spark(raw, message):
    raw = {"input": {"path": "x.txt"}, **raw}
    with pytest.raises(ConfigError, match=message):
        build_config(raw)


def test_set_overrides_are_yaml(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("input: {path: corpus.txt}\nsgns: {epochs: 5}\n")
    cfg = load_config(conf, ["sgns.epochs=2", "stages=[ingest,vocab]", "sgns.sample=1e-3", "eval.models=[sgns]"])
    assert cfg.sgns.epochs == 2
    assert cfg.sgns.sample == pytest.approx(1e-3)
    assert cfg.stages == ("ingest", "vocab")
    assert cfg.eval.models == ("sgns",)
    assert cfg.input.path == str(tmp_path / "corpus.txt")


def test_bad_override_syntax_is_explained(tmp_path):
    with pytest.raises(ConfigError, match=r"must look like section\.key=value"):
        load_config(None, ["sgns.epochs"])
    with pytest.raises(ConfigError, match=r"unknown config key sgns\.nope"):
        load_config(None, ["sgns.nope=1"])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_config_is_frozen():
    cfg = build_config({"input": {"path": "x.txt"}})
    with pytest.raises(AttributeError):
        cfg.sgns.dim = 3  # type: ignore[misc]


def test_effective_config_round_trips_through_json():
    cfg = build_config({"input": {"path": "x.txt"}, "sgns": {"dim": 7}})
    d = cfg.to_dict()
    assert d["sgns"]["dim"] == 7
    assert build_config({k: v for k, v in d.items() if k not in ("base_dir",)}).sgns.dim == 7


def test_stages_without_ingest_need_no_input_path():
    cfg = build_config({"stages": ["evaluate"]})
    assert cfg.input.path == ""
    with pytest.raises(ConfigError, match=r"input\.path is empty"):
        build_config({"stages": ["ingest"]})


def test_sync_rounds_auto_grows_with_partitions_and_explicit_value_wins():
    from embedpipe.training.sgns import effective_sync_rounds

    assert build_config({"input": {"path": "x.txt"}}).sgns.sync_rounds == 0  # auto by default
    # One replica merges with no one: one round, the model shipped once an epoch.
    assert [effective_sync_rounds(0, p) for p in (1, 2, 4, 8)] == [1, 8, 16, 64]
    assert effective_sync_rounds(3, 8) == 3


def test_every_key_is_declared_once_with_a_doc_and_its_default():
    from dataclasses import fields

    from embedpipe.config import SECTIONS

    for name, cls in SECTIONS.items():
        for f in fields(cls):
            assert f.metadata.get("doc"), f"{name}.{f.name} has no one-line doc in its declaration"


def test_a_section_built_in_python_is_checked_like_one_read_from_yaml():
    from embedpipe.config import CleanConfig, SgnsConfig

    with pytest.raises(ConfigError, match=r"clean\.numbers must be one of"):
        CleanConfig(numbers="words")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"sgns\.dim must be in 1\.\.10000, got 0"):
        SgnsConfig(dim=0)
    with pytest.raises(ConfigError, match=r"sgns\.epochs must be an integer"):
        SgnsConfig(epochs="5")  # type: ignore[arg-type]


def test_the_documented_key_table_is_generated_from_the_declarations():
    from pathlib import Path

    from embedpipe.config import readme_with_table

    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == readme_with_table(page), (
        "docs/configuration.md's key table differs from the config declarations; "
        "run: python -m embedpipe.config --update-readme docs/configuration.md"
    )


def test_a_moved_key_names_its_new_place():
    with pytest.raises(ConfigError, match=r"config key glove\.window is now cooccur\.window; rename it"):
        build_config({"input": {"path": "x.txt"}, "glove": {"window": 10}})


def test_auto_distribution_keeps_averaging_where_it_is_fast_and_rotates_beyond():
    from embedpipe.training.schedule import AVERAGING_MAX_REPLICAS, choose_distribution

    fits, budget = 100 * 2**20, 1024
    # What the user sets is what runs, said as such.
    assert choose_distribution("averaging", "sgns", 32, fits, budget) == ("averaging", "sgns.distribution: averaging")
    assert choose_distribution("rotation", "glove", 1, fits, budget)[0] == "rotation"
    # Skip-gram: averaging up to its measured limit, rotation beyond it.
    assert choose_distribution("auto", "sgns", AVERAGING_MAX_REPLICAS, fits, budget)[0] == "averaging"
    chosen, why = choose_distribution("auto", "sgns", 8, fits, budget)
    assert chosen == "rotation" and "8 replicas" in why
    # A model the driver cannot hold goes to the executors, whatever the replicas.
    chosen, why = choose_distribution("auto", "glove", 1, 2048 * 2**20, budget)
    assert chosen == "rotation" and "2048 MB on the driver, over glove.max_model_mb = 1024" in why
    # GloVe likewise: averaging broadcasts its whole state once per replica an epoch.
    assert choose_distribution("auto", "glove", AVERAGING_MAX_REPLICAS, fits, budget)[0] == "averaging"
    chosen, why = choose_distribution("auto", "glove", 8, fits, budget)
    assert chosen == "rotation" and "8 broadcasts of the whole model" in why
    # CBOW cannot rotate, so auto never picks it for CBOW.
    assert choose_distribution("auto", "sgns", 8, fits, budget, rotation_possible=False)[0] == "averaging"
