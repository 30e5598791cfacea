"""Where a rerank reads its passage texts: a BEIR corpus, or the raw documents a Lucene index stores."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from ..errors import ResrankError
from ..formats.corpus import load_passages
from ..lucene import lucene_passages, open_searcher


def passage_source(corpus: str | Path | None, lucene_index: str | None = None
                   ) -> tuple[Callable[[Collection[str]], dict[str, str]], dict[str, Path | str]]:
    """Where a rerank reads passage texts -- a BEIR corpus (a folder, or a JSONL such as an imported passage store), else
    a Lucene index with stored raw text -- as a lookup, and that source by option name (``corpus`` or ``index``): what
    the rerank's provenance records, so ``rerank`` and the reproduction grid record it alike."""
    if corpus is not None:
        source = Path(corpus)
        return (lambda docids: load_passages(source, docids)), {"corpus": source}
    if lucene_index:
        index = lucene_index

        def lucene(docids: Collection[str]) -> dict[str, str]:
            return lucene_passages(open_searcher(index), docids)

        return lucene, {"index": index}
    raise ResrankError("no passage text: pass --corpus DIR, --index LUCENE_DIR or --candidates FILE")
