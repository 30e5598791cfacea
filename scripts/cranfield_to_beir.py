"""Convert the Cranfield collection (SMART format) into a BEIR directory: an out-of-domain dev set.

The ResRank-mini recipe selects on NFCorpus dev; Cranfield (aeronautics abstracts, 225 queries) is
the check that a reader trained on NFCorpus does not harm a domain it never saw, without touching
DL19 or any test split before the final report.

    python scripts/cranfield_to_beir.py /work/shared/data/cranfield OUT_DIR
    resrank-eval retrieve --dataset cranfield --corpus OUT_DIR --split test --method bm25 --hits 100

Query ids are the queries' sequence numbers (``cranqrel`` uses those, not the ``.I`` field).
Relevance: Cleverdon's codes 1 (complete answer) .. 4 (minimum interest) become grades 4 .. 1;
code -1 (no interest) is dropped.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path


def records(path: Path) -> list[dict[str, str]]:
    """``.I`` blocks as {field letter: text}."""
    blocks: list[dict[str, str]] = []
    field = None
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(".I"):
            blocks.append({"I": line[2:].strip()})
            field = None
        elif len(line) == 2 and line.startswith("."):
            field = line[1]
            blocks[-1][field] = ""
        elif field is not None:
            blocks[-1][field] += line.strip() + " "
    return blocks


def main(source: str, out: str) -> None:
    src, dst = Path(source), Path(out)
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    with gzip.open(dst / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        for doc in records(src / "cran.all.1400"):
            text = doc.get("W", "").strip()
            handle.write(json.dumps({"_id": doc["I"], "title": doc.get("T", "").strip(), "text": text}) + "\n")
    with gzip.open(dst / "queries.jsonl.gz", "wt", encoding="utf-8") as handle:
        for number, query in enumerate(records(src / "cran.qry"), 1):
            handle.write(json.dumps({"_id": str(number), "text": query["W"].strip()}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    for line in (src / "cranqrel").read_text().splitlines():
        qid, docid, code = line.split()
        if int(code) in (1, 2, 3, 4):
            lines.append(f"{qid}\t{docid}\t{5 - int(code)}")
    (dst / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
