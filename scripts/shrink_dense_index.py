"""Copy a dense index (``resrank-eval encode``) as the package ships it: vectors in float16, no FAISS file.

The bundled ResRank-mini comes with its NFCorpus passage vectors so that the demo reranks without
encoding the corpus first (as Pyserini ships prebuilt indexes). float16 halves the 5.6 MB of
float32 vectors and changes cosines by < 1e-3; the FAISS file (another 5.6 MB, a copy of the same
vectors) is left out: reranking reads only ``docid``, ``vectors.npy`` and ``encoder.json``. The copy
is a step of the job layer: its ``provenance.json`` names the index it was made from and that index's
corpus (its fingerprint, and its path relative to the copy, so a copy shipped beside the corpus finds
it: rerank checks passages against it) and records every file's size and SHA-256, which readers of
the copy check.

    python scripts/shrink_dense_index.py INDEX_DIR OUT_DIR
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from resrank_eval.jobs import Outputs, Step, read_record
from resrank_eval.provenance import RECORD_NAME, Provenance
from resrank_eval.retrieve.dense import DOCID_FILE, META_FILE, VECTORS_FILE, check_dense_index


def main(source: str, target: str) -> None:
    src, dst = Path(source), Path(target)
    check_dense_index(src)

    def make() -> None:
        dst.mkdir(parents=True, exist_ok=True)
        np.save(dst / VECTORS_FILE, np.load(src / VECTORS_FILE).astype(np.float16))
        for name in (DOCID_FILE, META_FILE):
            shutil.copyfile(src / name, dst / name)

    made = Provenance.from_dict(read_record(src / RECORD_NAME), src / RECORD_NAME)
    own = Provenance.of("shrink-dense-index", {"dtype": "float16"}, {"index": src})
    corpus = os.path.relpath(Path(src, made.sources["corpus"]).absolute(), dst.absolute())
    provenance = replace(own, inputs={**own.inputs, "corpus": made.inputs["corpus"]}, sources={**own.sources, "corpus": corpus})
    Step(provenance, Outputs.folder(dst, DOCID_FILE, VECTORS_FILE, META_FILE), make).run()


if __name__ == "__main__":
    main(*sys.argv[1:3])
