"""Command line: ``embedpipe COMMAND CONF [--set section.key=value ...]``.

Commands
--------
run         run the configured ``stages`` in order
ingest, vocab, encode, cooccur, glove, sgns, evaluate, export
            run one stage
import      a pretrained vectors file becomes a model of the vectors table
neighbors   nearest words of a word
neighbors-table
            the neighbors stage: every word's nearest words into the neighbors table
analogy     A is to B as C is to ?
align       map one model onto another (orthogonal Procrustes) and score the map
bias        WEAT tests and a gender direction of a model
embed       a vector for each text of a file or table, into the doc_vectors table
plot        a t-SNE map of a model's frequent words, coloured by k-means clusters

neighbors and analogy start no JVM when delta-rs reads output.path (a local
path, s3://, s3a://, abfss://, gs:// ...); on hdfs://, viewfs:// or dbfs:/
they run on Spark.

The config is loaded and validated before Spark starts, so a typo costs
milliseconds, not a cluster start. Errors print one line that names the
problem and the fix, and exit with status 2 (bad config or input) or 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from embedpipe import __version__
from embedpipe.config import STAGES, PipelineConfig, load_config
from embedpipe.errors import USER_ERRORS, ConfigError, PlotDependencyError

log = logging.getLogger("embedpipe")

EPILOG = """examples:
  embedpipe run conf/demo.yaml
  embedpipe run conf/demo.yaml --set sgns.epochs=3 --set 'stages=[ingest,vocab,encode,sgns,evaluate]'
  embedpipe sgns conf/demo.yaml --resume
  embedpipe evaluate conf/demo.yaml --json
  embedpipe export conf/demo.yaml --model sgns --format word2vec --out vectors.txt
  embedpipe neighbors conf/demo.yaml --model sgns king -k 5
  embedpipe neighbors-table conf/demo.yaml --set neighbors.k=20
  embedpipe analogy conf/demo.yaml --model sgns man king woman
  embedpipe import conf/demo.yaml glove.6B.100d.txt --format glove --name glove6b
  embedpipe evaluate conf/demo.yaml --model sgns --model glove6b
  embedpipe align conf/demo.yaml --source glove --target sgns --name glove-on-sgns
  embedpipe bias conf/demo.yaml --model sgns
  embedpipe embed conf/demo.yaml --method sif --set embed.input=texts.txt.gz
  embedpipe plot conf/demo.yaml --model sgns --out plots
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedpipe",
        description="Train and evaluate word embeddings (GloVe, skip-gram) on Apache Spark.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"embedpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("conf", metavar="CONF", help="YAML config file, e.g. conf/demo.yaml")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="SECTION.KEY=VALUE",
            help="override a config key (value parsed as YAML); repeatable",
        )
        p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
        p.add_argument(
            "-v", "--verbose", action="store_true", help="debug details too, e.g. each averaging round's timings"
        )
        return p

    p = add("run", "run the configured stages in order (up-to-date stages are skipped)")
    p.add_argument("--resume", action="store_true", help="training stages continue from their last checkpoint")
    p.add_argument("--force", action="store_true", help="recompute stages even when they are up to date")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    preparing = {
        "ingest": "clean and tokenize the input into the tokens table",
        "vocab": "count the words exactly into the vocab table",
        "encode": "write the corpus table: every piece as vocabulary ids",
        "cooccur": "count GloVe co-occurrences into the cooccurrence table",
    }
    for stage, what in preparing.items():
        p = add(stage, what)
        p.add_argument("--force", action="store_true", help="recompute even when up to date")
    for stage in ("glove", "sgns"):
        p = add(stage, f"train {stage} vectors")
        p.add_argument("--resume", action="store_true", help="continue a killed run from its last checkpoint")
        p.add_argument("--force", action="store_true", help="recompute even when up to date")
    p = add("evaluate", "score vectors on WordSim-353, SimLex-999 and the Google analogies")
    p.add_argument(
        "--model", action="append", metavar="NAME", help="only this model: glove, sgns or an imported one (repeatable)"
    )
    p.add_argument("--json", action="store_true", help="print the scores as JSON on stdout")
    p.add_argument(
        "--plot",
        metavar="DIR",
        help="also write DIR/projection.png (PCA of word groups) and DIR/benchmarks.png "
        "(needs pip install embedpipe[plot])",
    )
    p = add("export", "write vectors for gensim / GloVe tools")
    p.add_argument("--model", metavar="NAME", help="glove, sgns or an imported model (default export.model)")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=["word2vec", "word2vec-binary", "glove"],
        help="file format (default export.format)",
    )
    p.add_argument("--out", help="output file (default <output.path>/export/<model>.<ext>)")
    p.add_argument("--normalize", action="store_true", help="write unit-length vectors")
    p = add("import", "a pretrained vectors file becomes a model of the vectors table")
    p.add_argument("file", metavar="FILE", help="a local word2vec, GloVe or fastText .vec file")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=["word2vec", "word2vec-binary", "glove", "fasttext"],
        default="word2vec",
        help="file format (default word2vec text; fasttext: a .vec file)",
    )
    p.add_argument("--name", required=True, help="the model's name in the vectors table (not glove or sgns)")
    model_help = "glove, sgns or an imported model (default sgns)"
    p = add("neighbors", "print the nearest neighbours of a word")
    p.add_argument("--model", metavar="NAME", default="sgns", help=model_help)
    p.add_argument("word")
    p.add_argument("-k", type=int, default=10, help="how many neighbours (default 10)")
    p = add(
        "neighbors-table",
        "the neighbors stage: every word's neighbors.k nearest words of neighbors.model into the neighbors "
        "table, on the executors",
    )
    p.add_argument("--force", action="store_true", help="recompute even when up to date")
    p = add("analogy", "A is to B as C is to ? (3CosAdd)")
    p.add_argument("--model", metavar="NAME", default="sgns", help=model_help)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("-k", type=int, default=1, help="how many answers (default 1)")
    p = add("align", "map one model onto another with orthogonal Procrustes; score it and write the mapped model")
    p.add_argument("--source", required=True, metavar="MODEL[@RUN]", help="the model mapped (a run: MODEL@RUN_ID)")
    p.add_argument("--target", required=True, metavar="MODEL[@RUN]", help="the model mapped onto")
    p.add_argument("--name", help="the aligned model's name in the vectors table (default <source>-aligned)")
    p.add_argument("--dictionary", metavar="FILE", help="anchor word pairs, two columns (default align.dictionary)")
    p.add_argument("--json", action="store_true", help="print the scores and moved words as JSON")
    p = add("bias", "WEAT tests, a gender direction and its most extreme words; appends to the bias table")
    p.add_argument("--model", required=True, metavar="MODEL[@RUN]", help="the model measured (a run: MODEL@RUN_ID)")
    p.add_argument("--words", metavar="FILE", help="words to project, one a line (default bias.words: occupations)")
    p.add_argument("--name", help="with bias.debias=neutralize: the debiased model's name (default <model>-debiased)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p = add("embed", "a vector for each text of embed.input (mean, tfidf or SIF) into the doc_vectors table")
    p.add_argument("--method", choices=["mean", "tfidf", "sif"], help="how words are weighted (default embed.method)")
    p.add_argument("--json", action="store_true", help="print the stage's result as JSON")
    p = add(
        "plot",
        "a t-SNE map of a model's frequent words coloured by k-means clusters of all its words (PNG, HTML); "
        "writes the clusters table",
    )
    p.add_argument("--model", metavar="MODEL[@RUN]", help="the model mapped (default plot.model)")
    p.add_argument("--out", metavar="DIR", help="local folder of the PNG, HTML and cluster lists (default plot.out)")
    p.add_argument("--json", action="store_true", help="print the clusters and files as JSON")
    return parser


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "pyspark", "numba", "urllib3", "matplotlib", "openTSNE"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    try:
        cfg = load_config(args.conf, args.overrides)
    except ConfigError as e:
        print(f"embedpipe: config error: {e}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, cfg)
    except USER_ERRORS as e:
        print(f"embedpipe: error: {e}", file=sys.stderr)
        return 2 if not isinstance(e, RuntimeError) else 1


def _dispatch(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    if args.command in ("neighbors", "analogy"):
        return _query(args, cfg)  # no JVM where delta-rs reads the table
    if args.command == "import":
        return _import(args, cfg)
    if args.command == "align":
        return _align(args, cfg)
    if args.command == "bias":
        return _bias(args, cfg)
    if args.command == "embed":
        return _embed(args, cfg)
    if args.command == "plot":
        return _plot(args, cfg)
    from embedpipe.session import get_session

    spark = get_session(cfg.spark)
    cmd = args.command
    if cmd == "run":
        from embedpipe.evaluate.stage import format_table
        from embedpipe.pipeline import run_pipeline

        summary = run_pipeline(spark, cfg, resume=args.resume, force=args.force)
        if args.json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            _print_summary(summary)
            for st in summary["stages"]:
                if st["stage"] == "evaluate":
                    if st["skipped"]:
                        from embedpipe.evaluate.stage import results_from_table

                        print(format_table(results_from_table(spark, cfg)))
                    else:
                        print(format_table(st["stats"]["results"]))
        return 0
    stage = "neighbors" if cmd == "neighbors-table" else cmd  # `embedpipe neighbors` is the one-word query
    if stage in STAGES and stage not in ("evaluate", "export"):
        import dataclasses

        from embedpipe.pipeline import run_pipeline

        # A one-stage pipeline, so a stage run alone (as Airflow and Databricks
        # tasks do) also leaves its run summary with the stage's counters.
        one = dataclasses.replace(cfg, stages=(stage,))
        summary = run_pipeline(spark, one, resume=getattr(args, "resume", False), force=args.force)
        print(json.dumps(summary["stages"][0], default=str))
        return 0
    if cmd == "evaluate":
        from embedpipe.evaluate import stage as evaluate

        try:
            result = evaluate.run(spark, cfg, models=args.model, plot_dir=args.plot)
        except PlotDependencyError as e:
            print(f"embedpipe: error: {e}", file=sys.stderr)
            return 2
        scores = result.stats["results"]
        if args.json:
            print(json.dumps(scores, indent=2))
        else:
            print(evaluate.format_table(scores))
        return 0
    if cmd == "export":
        from embedpipe.vectors import export

        result = export.run(spark, cfg, model=args.model, fmt=args.fmt, out=args.out, normalize=args.normalize)
        print(result.stats["path"])
        return 0
    raise AssertionError(cmd)  # pragma: no cover - argparse restricts commands


def _query(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    from embedpipe.vectors import lookup

    if args.command == "neighbors":
        hits = lookup.nearest(cfg, args.model, args.word, args.k)
    else:
        hits = lookup.solve_analogy(cfg, args.model, args.a, args.b, args.c, args.k)
    for word, sim in hits:
        print(f"{word}\t{sim:.4f}")
    return 0


def _import(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    from embedpipe.vectors import pretrained

    vec = pretrained.read_pretrained(args.file, args.fmt, args.name)  # a bad file or name costs no JVM
    from embedpipe.session import get_session

    result = pretrained.import_vectors(get_session(cfg.spark), cfg, vec, args.name)
    print(json.dumps(result.to_dict(), default=str))
    return 0


def _session(cfg: PipelineConfig) -> Any:
    from embedpipe.session import get_session  # imported when needed: it loads pyspark

    return get_session(cfg.spark)


def _report(result: Any, format_report: Any, *, as_json: bool) -> int:
    """A vector tool's result on stdout: its report, or ``result.to_dict()`` as JSON."""
    print(json.dumps(result.to_dict(), indent=2, default=str) if as_json else format_report(result.stats))
    return 0


def _align(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    import dataclasses

    from embedpipe import align

    if args.dictionary:
        from embedpipe.config import resolve_path

        cfg = dataclasses.replace(
            cfg, align=dataclasses.replace(cfg.align, dictionary=resolve_path(args.dictionary, "."))
        )
    # Read and align before the write starts Spark: a bad name, model or dictionary costs no JVM.
    prepared = align.prepare(cfg, args.source, args.target, args.name, lambda: _session(cfg))
    result = align.run(_session(cfg), cfg, source=args.source, target=args.target, prepared=prepared)
    return _report(result, align.format_report, as_json=args.json)


def _bias(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    import dataclasses

    from embedpipe import bias

    if args.words:
        from embedpipe.config import resolve_path

        cfg = dataclasses.replace(cfg, bias=dataclasses.replace(cfg.bias, words=resolve_path(args.words, ".")))
    # Read and measure before the writes start Spark: a bad test, model or word file costs no JVM.
    prepared = bias.prepare(cfg, args.model, args.name, lambda: _session(cfg))
    result = bias.run(_session(cfg), cfg, model=args.model, prepared=prepared)
    return _report(result, bias.format_report, as_json=args.json)


def _embed(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    import dataclasses

    from embedpipe import embed

    if args.method:
        cfg = dataclasses.replace(cfg, embed=dataclasses.replace(cfg.embed, method=args.method))
    embed.check(cfg)  # a missing input or vectors table costs no JVM
    result = embed.run(_session(cfg), cfg)
    return _report(result, embed.format_report, as_json=args.json)


def _plot(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    import dataclasses

    from embedpipe import maps

    if args.out:
        from embedpipe.config import resolve_path

        cfg = dataclasses.replace(cfg, plot=dataclasses.replace(cfg.plot, out=resolve_path(args.out, ".")))
    # Check the folder and packages and read the model before Spark starts: a typo costs no JVM.
    prepared = maps.prepare(cfg, args.model, lambda: _session(cfg))
    result = maps.run(_session(cfg), cfg, prepared=prepared)
    return _report(result, maps.format_report, as_json=args.json)


def _print_summary(summary: dict[str, object]) -> None:
    print(f"\nrun {summary['run_id']} -> {summary['output']} ({summary['seconds']} s)")
    for st in summary["stages"]:  # type: ignore[attr-defined]
        if st["skipped"]:
            print(f"  {st['stage']:<9}  up to date, skipped (--force recomputes)")
            continue
        rate = "" if st.get("rate") is None else f"  {st['rate']:>12,.0f} {st['unit']}/s"
        print(f"  {st['stage']:<9} {st['seconds']:>8.1f} s  rows {st['rows']:>10}{rate}")
    print()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
