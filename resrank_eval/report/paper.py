"""The paper's table: rows are systems, columns datasets and the BEIR average; then the efficiency block.

The effectiveness table shows one measure (nDCG@10 unless asked) with direction-aware, Holm-corrected
markers; the BEIR column averages the BEIR sets present and names them. The efficiency block gives,
per reranked system and dataset, latency (end to end and reranker only), throughput, tokens, forward
passes and FLOPs per query, with the device, dtype and batch size; :func:`context` names the
machine, library versions and commit the timings come from, :func:`prompt_protocols` the prompts of
the generative baselines.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

from ..datasets.registry import BEIR_NAMES
from .build import Report
from .tables import CROSS_DATASETS, MISSING, SHORT_NAMES, Table, legend, number

EFFICIENCY_HEADERS = ["System", "Dataset", "p50 ms", "p95 ms", "rerank p50 ms", "q/s", "enc tok/q", "rr tok/q", "gen tok/q", "passes/q",
                      "GFLOPs/q", "q/PFLOP", "device", "dtype", "batch"]


def short_name(dataset: str) -> str:
    return SHORT_NAMES.get(dataset, dataset)


def paper_table(report: Report, measure: str = "nDCG@10", systems: list[str] | None = None,
                datasets: list[str] | None = None, labels: dict[str, str] | None = None) -> Table:
    """``measure`` per system (rows, in ``systems`` order) and dataset (columns), plus the BEIR average of the BEIR sets present.

    Datasets default to those in the report, the ten benchmarks first in their usual order.
    """
    systems = systems or report.labels
    datasets = datasets or sorted(report.datasets, key=lambda d: CROSS_DATASETS.index(d) if d in CROSS_DATASETS else len(CROSS_DATASETS))
    beir = [d for d in datasets if d.startswith("beir/") and d.removeprefix("beir/") in BEIR_NAMES]
    rows = []
    for system in systems:
        results = {d: report.find(system, d) for d in datasets}
        if not any(results.values()):
            continue
        cells = [(labels or {}).get(system, system)]
        cells += [_cell(report, r, measure) for r in results.values()]
        if beir:
            scores = [results[d].mean[measure] for d in beir if results[d] and measure in results[d].mean]  # type: ignore[union-attr]
            cells.append(f"{fmean(scores):.4f}" if len(scores) == len(beir) else MISSING)
        rows.append(cells)
    columns = ["System", *map(short_name, datasets)]
    if beir:
        columns.append("BEIR avg" if len(beir) == len(BEIR_NAMES) else f"BEIR avg ({', '.join(map(short_name, beir))})")
    baseline = (labels or {}).get(report.baseline or "")
    return Table(f"{measure} across datasets. {legend(report, measure, baseline)}.", columns, rows)


def _cell(report: Report, result: Any, measure: str) -> str:
    if result is None or measure not in result.mean:
        return MISSING
    comparison = result.significance.get(measure)
    return f"{result.mean[measure]:.4f}" + (comparison.markers(report.alpha) if comparison else "")


def efficiency_table(report: Report, systems: list[str] | None = None, labels: dict[str, str] | None = None) -> Table:
    """One row per reranked (system, dataset): what a query cost, in time, tokens, passes and FLOPs."""
    rows = []
    for system in systems or report.labels:
        for result in (r for r in report.results if r.label == system and r.efficiency and r.efficiency.get("queries")):
            e = result.efficiency
            assert e is not None
            rows.append([(labels or {}).get(system, system), short_name(result.dataset),
                         number(e["latency_ms_p50"]), number(e["latency_ms_p95"]), _maybe(e.get("rerank_ms_p50")),
                         _maybe(e.get("queries_per_s")), f"{e['encoder_tokens_per_query']:,.0f}",
                         f"{e['reranker_input_tokens_per_query']:,.0f}", f"{e['generated_tokens_per_query']:,.0f}",
                         f"{e['forward_passes_per_query']:g}", _maybe(_giga(e.get("flops_per_query"))),
                         _maybe(e.get("queries_per_pflop")), str(e.get("device", MISSING)), str(e.get("dtype", MISSING)),
                         str(e.get("batch_size", MISSING))])
    caption = ("Efficiency per query: latency end to end (encoding + reranking) and of the reranker alone, throughput, "
               "tokens read by the encoder and the reranker, tokens generated, reranker forward passes, FLOPs "
               "(all matrix multiplies, batch-independent) and queries per PetaFLOP.")
    return Table(caption, EFFICIENCY_HEADERS, rows)


def _giga(value: float | None) -> float | None:
    return None if value is None else value / 1e9


def _maybe(value: float | None) -> str:
    return MISSING if value is None else number(value)


def context(report: Report) -> list[str]:
    """One line per distinct environment the timings were measured in (device, threads, versions, commit)."""
    seen: dict[str, list[str]] = {}
    for result in report.results:
        env = (result.efficiency or {}).get("environment")
        if not env:
            continue
        line = (f"{env.get('device_name')} ({env.get('device')}, threads: {env.get('threads')}); "
                f"Python {env.get('python')}, torch {env.get('torch')}, transformers {env.get('transformers')}, "
                f"pyserini {env.get('pyserini')}, resrank-eval {env.get('resrank-eval')}, commit {env.get('commit') or 'unknown'}")
        seen.setdefault(line, []).append(result.label)
    return [f"{line}: {', '.join(dict.fromkeys(labels))}" if len(seen) > 1 else line for line, labels in seen.items()]


def prompt_protocols(report: Report, labels: dict[str, str] | None = None) -> list[str]:
    """One line per generative system: the prompt protocol, version and answer budget its runs' summaries record."""
    seen: dict[str, list[str]] = {}
    for result in report.results:
        protocol = (result.efficiency or {}).get("protocol")
        if protocol:
            line = (f"--protocol {protocol['name']} ({protocol['version']}), answer budget {protocol['answer_tokens']} tokens"
                    + "".join(f", {key.replace('_', ' ')} {protocol[key]}" for key in ("thinking", "temperature", "context_size")
                              if key in protocol))
            seen.setdefault((labels or {}).get(result.label, result.label), []).append(line)
    return [f"{label}: {'; '.join(dict.fromkeys(lines))}" for label, lines in seen.items()]
