"""``build-train`` (training examples from runs or teacher rankings) and ``train`` (YAML config)."""

from __future__ import annotations

import click

from .common import Writable, corpus_option, overwrite_option, run_step


@click.command("build-train")
@click.option("--output", "-o", required=True, type=Writable(), help="Training JSONL to write.")
@click.option("--dataset", default=None, help="Dataset whose split supplies topics, qrels and corpus (with --run); "
              "or irds:NAME, e.g. irds:msmarco-passage/train/judged (ir_datasets, online).")
@corpus_option
@click.option("--split", default="train", show_default=True, help="Qrels split to train on (never the test split).")
@click.option("--run", "run_path", type=click.Path(dir_okay=False, exists=True), default=None, help="First-stage TREC run of that split (BM25 or dense): hard negatives.")
@click.option("--candidates", "candidates_file", type=click.Path(dir_okay=False, exists=True), default=None, help="rank_llm candidate JSON whose hit order is a teacher ranking.")
@click.option("--qrels", "qrels_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Labels for --candidates (optional): a judged query's relevant passages are its positives; one with none "
                   "in its top --num-candidates is skipped.")
@click.option("--num-candidates", type=click.IntRange(min=2), default=20, show_default=True, help="Candidates per training list.")
@click.option("--depth", type=click.IntRange(min=1), default=100, show_default=True, help="First-stage depth hard negatives are sampled from.")
@click.option("--max-positives", type=click.IntRange(min=1), default=5, show_default=True, help="Positives per list (with --run).")
@click.option("--max-queries", type=click.IntRange(min=1), default=None, help="Sample at most this many queries (with --run).")
@click.option("--missed-positives/--no-missed-positives", default=True, show_default=True,
              help="Give a query whose positives the run missed one anyway (after the run's passages); "
                   "--no-missed-positives skips such queries, so lists are exactly the run's.")
@click.option("--seed", type=int, default=13, show_default=True,
              help="Random seed of the queries drawn (--max-queries) and of the positives and negatives sampled (with --run).")
@overwrite_option
def build_train(
    output: str,
    dataset: str | None,
    corpus: str | None,
    split: str,
    run_path: str | None,
    candidates_file: str | None,
    qrels_path: str | None,
    num_candidates: int,
    depth: int,
    max_positives: int,
    max_queries: int | None,
    missed_positives: bool,
    seed: int,
) -> None:
    """Write training examples: from a dataset split + first-stage run, or from teacher-ranked candidates; kept when made so
    before."""
    from ..errors import ResrankError
    from ..train.build import BuildOptions, build_train_step

    if (run_path is None) == (candidates_file is None):
        raise ResrankError("give exactly one source: --dataset D --run RUN, or --candidates JSON")
    data = None
    if run_path is not None:
        if dataset is None:
            raise ResrankError("--run needs --dataset (and --corpus for a local BEIR directory)")
        from ..datasets import get_dataset

        data = get_dataset(dataset, corpus, split)
    options = BuildOptions(num_candidates, depth, max_positives, max_queries, seed, missed_positives)
    run_step(build_train_step(output, options, data, run_path, candidates_file, qrels_path),
             made=lambda count: f"wrote {count} training examples to {output}")


@click.command("train")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="YAML training config.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set training.batch_size=8.")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in output_dir (exactly where it stopped).")
def train(config_path: str, overrides: tuple[str, ...], resume: bool) -> None:
    """Train a ResRank model (two stages, two losses).

    The result loads with `rerank --model`: OUTPUT_DIR/best (best dev nDCG@10) when the config has a
    dev split, else OUTPUT_DIR/final.
    """
    from ..train.config import load_config
    from ..train.trainer import Trainer

    config = load_config(config_path, overrides)
    result = Trainer(config).train(resume=resume)
    click.echo(f"saved {result}")


COMMANDS = [build_train, train]
