"""Topics and qrels of the ten benchmarks (data only): installed as ``resrank_eval.qrels`` (see pyproject.toml)."""
