"""``reproduce``: a grid over DL19 (candidates) and an unregistered BEIR directory (Cranfield), run for real.

Pins written and checked, a second run that skips everything, the dry run's commands making the same
files (provenance records included), a condition changed in the file refused by name, a rerank killed
mid-grid that resumes, the paper table's shape, and conditions-file mistakes reported at their line.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from pathlib import Path

import pytest

from resrank_eval.cli import main
from resrank_eval.cli.common import CliError
from resrank_eval.datasets import get_dataset
from resrank_eval.errors import ResrankError
from resrank_eval.evaluate import evaluate
from resrank_eval.formats.trec import read_run
from resrank_eval.reproduce import load_grid, plan, run_grid
from resrank_eval.reproduce.plan import Command
from resrank_eval.rerank import Reranked, Reranker
from resrank_eval.retrieve import fuse
from resrank_eval.types import Candidate, QueryStats, Ranking
from tests.helpers import DL19_CANDIDATES, assert_one_line_error, cranfield_beir, invoke

GRID = """\
title: test grid
output: {output}
baseline: bm25
datasets:
  - name: dl19
    first_stages: {{bm25: "{candidates}"}}
  - name: cranfield               # not registered: joins the grid by its corpus alone
    corpus: {cranfield}
conditions:
  - name: bm25
    label: BM25
    first_stage: {{method: bm25, hits: 100}}
  - name: bm25.identity
    first_stage: bm25
    rerank: {{reranker: identity, top_k: 20, batch_size: 8}}
  - name: rrf
    first_stage: {{method: fusion, runs: [bm25, bm25.identity], fusion: rrf, depth: 100}}
  - name: interp
    first_stage: {{method: fusion, runs: [bm25, bm25.identity], fusion: interpolate, weights: [0.3, 0.7], depth: 50}}
  - name: bm25.reverse
    first_stage: bm25
    rerank: {{reranker: reverse-top, top_k: 10, batch_size: 4}}
expected:
"""


class ReverseTop(Reranker):
    """Reverses the top-k: a reranker worse than BM25 (a ↓ in the table). ``crash_after`` simulates a kill."""

    name = "reverse-top"
    crash_after: int | None = None

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        if ReverseTop.crash_after is not None:
            if ReverseTop.crash_after <= 0:
                raise KeyboardInterrupt("killed mid-grid")
            ReverseTop.crash_after -= len(rankings)
        out = []
        for r in rankings:
            n = len(r.candidates)
            out.append(Reranked([Candidate(c.docid, float(i)) for i, c in enumerate(r.candidates)][::-1],
                                QueryStats(r.query.qid, self.name, n, reranker_input_tokens=n, total_ms=1.0, rerank_ms=1.0)))
        return out


@pytest.fixture(scope="module")
def cranfield(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cranfield_beir(tmp_path_factory.mktemp("cranfield"))


def conditions_file(folder: Path, cranfield: Path, output: Path) -> Path:
    path = folder / "grid.yaml"
    path.write_text(GRID.format(output=output, candidates=DL19_CANDIDATES, cranfield=cranfield))
    return path


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory, cranfield: Path) -> Path:
    """The grid run once and pinned: its conditions file (with the expected block filled in)."""
    folder = tmp_path_factory.mktemp("grid")
    path = conditions_file(folder, cranfield, folder / "runs")
    with pytest.MonkeyPatch.context() as env:  # module-scoped: set up before the per-test cache isolation
        env.setenv("RESRANK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        result = invoke("reproduce", str(path), "--pin", "--resamples", "400")
    assert result.exit_code == 0, result.output
    return path


def test_layout_table_and_pins(pinned: Path) -> None:
    runs = pinned.parent / "runs"
    for dataset in ("dl19", "cranfield"):
        for condition in ("bm25", "bm25.identity", "rrf", "interp", "bm25.reverse"):
            assert (runs / dataset / f"run.{dataset}.{condition}.txt").is_file()
    assert (runs / "dl19" / "run.dl19.bm25.identity.txt.summary.json").is_file()
    assert (runs / "dl19" / "run.dl19.bm25.txt.passages.jsonl").is_file()
    for name in ("table.md", "table.tex", "table.csv", "index.html", "tradeoff.png", "tradeoff.pdf"):
        assert (runs / name).stat().st_size > 0
    table = (runs / "table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| System"))
    assert header.split("|")[2].strip() == "DL19" and header.split("|")[3].strip() == "cranfield" and "BEIR avg" not in table
    assert "| BM25 " in table and "0.5058" in table  # the label, and the published DL19 BM25 number
    reverse = next(line for line in table.splitlines() if line.startswith("| bm25.reverse"))
    assert "↓" in reverse and "↑" not in reverse  # worse than BM25, and marked so
    assert "Holm-corrected" in table and "q/PFLOP" in table
    assert r"\toprule" in (runs / "table.tex").read_text()
    html = (runs / "index.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html and "<link" not in html
    expected = pinned.read_text().split("expected:")[1]
    assert '    dl19: {"nDCG@10": 0.5058' in expected and "  bm25.reverse:" in expected


def test_check_and_a_second_run_that_skips_everything(pinned: Path) -> None:
    started = time.perf_counter()
    result = invoke("reproduce", str(pinned), "--check", "--resamples", "400")
    assert result.exit_code == 0, result.output
    assert result.output.count("done, kept") == 10 and " s -> " not in result.output
    assert "FAIL" not in result.output and "reproduced" in result.output
    assert time.perf_counter() - started < 60


@pytest.mark.parametrize(("pinned", "tolerance", "ok"), [(0.5058, 0.0, True), (0.5053, 0.0005, True), (0.5063, 0.0005, True),
                                                      (0.5052, 0.0005, False), (0.5064, 0.0005, False), (0.5057, 0.0001, True)])
def test_a_pin_is_checked_to_the_precision_it_is_written_in(pinned: float, tolerance: float, ok: bool) -> None:
    """``--pin`` writes scores to 4 decimals and the check compared them with the unrounded score: ``tolerance: 0`` failed
    every unchanged cell ('expected 0.5058 got 0.5058'), and at 0.0005 a pin 0.0005 below the printed score failed where
    one 0.0005 above passed."""
    from resrank_eval.reproduce.grid import Check

    assert Check("bm25", "dl19", "nDCG@10", pinned, 0.50583, tolerance).ok is ok


def test_check_fails_loudly_on_a_wrong_pin(pinned: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(pinned.read_text().replace('dl19: {"nDCG@10": 0.5058', 'dl19: {"nDCG@10": 0.6058'))
    result = invoke("reproduce", str(wrong), "--check", "--conditions", "bm25", "--datasets", "dl19", "--resamples", "400")
    assert result.exit_code == 1
    assert "FAIL bm25" in result.output and "expected 0.6058 got 0.5058" in result.output
    assert "pinned score(s) differ" in result.output
    regress = invoke("regress", str(wrong), "--conditions", "bm25", "--datasets", "dl19", "--output", str(tmp_path / "re"))
    assert regress.exit_code == 1 and "1 regression check(s) failed" in regress.output


def test_pin_keeps_a_measure_pinned_by_hand(pinned: Path, tmp_path: Path) -> None:
    """``--pin`` replaced a cell's pins by the standard measures: a P@5 pinned by hand vanished from the file, and with it
    its check. It is pinned again, with the score the run has now."""
    grid = tmp_path / "grid.yaml"
    grid.write_text(pinned.read_text().replace('dl19: {"nDCG@10": 0.5058', 'dl19: {"P@5": 0.1234, "nDCG@10": 0.5058', 1))
    result = invoke("reproduce", str(grid), "--pin", "--conditions", "bm25", "--datasets", "dl19", "--resamples", "400")
    assert result.exit_code == 0, result.output
    run = read_run(pinned.parent / "runs" / "dl19" / "run.dl19.bm25.txt")
    five = evaluate(run, get_dataset("dl19").qrels(), ["P@5"]).mean["P@5"]
    assert f'"P@5": {five:.4f}' in grid.read_text().split("expected:")[1].split("bm25.identity")[0]


@pytest.mark.parametrize("option", ["--check", "--pin"])
def test_a_dry_run_that_would_check_or_pin_is_refused(pinned: Path, option: str) -> None:
    """``--dry-run --check`` (or ``--pin``) printed the commands and exited 0, having checked (or pinned) nothing."""
    assert_one_line_error(invoke("reproduce", str(pinned), "--dry-run", option), f"--dry-run makes no runs, so there is nothing to {option}")


def test_a_check_of_cells_without_pins_is_refused(tmp_path: Path, cranfield: Path) -> None:
    """``regress`` (and ``reproduce --check``) of cells with no pinned score ran them all, then said '0 of 0 pinned scores
    reproduced' and exited 0: a regression check that checked nothing passed."""
    path = conditions_file(tmp_path, cranfield, tmp_path / "runs")
    for command in (["reproduce", str(path), "--check"], ["regress", str(path), "--output", str(tmp_path / "re")]):
        assert_one_line_error(invoke(*command), f"{path}: no pinned score among the chosen cells to check")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "re").exists()


def test_dry_run_commands_write_the_same_runs(pinned: Path, tmp_path: Path) -> None:
    """The printed commands are what the grid runs: typed, they make the same runs, passage stores and records (paths
    aside: another folder; timings aside: the stats and summaries)."""
    other = tmp_path / "by-commands"
    result = invoke("reproduce", str(pinned), "--dry-run", "--output", str(other))
    assert result.exit_code == 0 and not other.exists()
    commands = [line for line in result.output.splitlines() if line.startswith("resrank-eval ")]
    assert len(commands) == 10
    for command in commands:
        done = invoke(*shlex.split(command)[1:])
        assert done.exit_code == 0, (command, done.output)
    ran = pinned.parent / "runs"
    made = sorted(p for p in ran.glob("*/run.*") if p.name.endswith((".txt", ".passages.jsonl")))
    assert len(made) == 11  # 10 runs and the DL19 passage store
    for path in made:
        assert (other / path.relative_to(ran)).read_text() == path.read_text(), path.name
    records = sorted(ran.glob("*/*.provenance.json"))
    assert len(records) == 10  # every step's
    for path in records:
        grid, typed = json.loads(path.read_text().replace(str(ran), str(other))), json.loads((other / path.relative_to(ran)).read_text())
        timed = [name for name in grid["outputs"] if name.endswith((".stats.jsonl", ".summary.json"))]
        for record in (grid, typed):
            for name in timed:
                del record["outputs"][name]
        assert grid == typed, path.name
    again = [invoke(*shlex.split(command)[1:]) for command in commands]  # ... and each command keeps what the grid made
    assert all(r.exit_code == 0 and "skipping" in r.output for r in again)


@pytest.mark.parametrize(
    ("change", "cell", "difference"),
    [
        (("top_k: 20, batch_size: 8", "top_k: 30, batch_size: 8"), ("bm25.identity", "dl19"), "made with --top-k 20, now 30"),
        (("{method: bm25, hits: 100}", "{method: bm25, hits: 50}"), ("bm25", "cranfield"), "made with --hits 100, now 50"),
        (("weights: [0.3, 0.7]", "weights: [0.4, 0.6]"), ("interp", "dl19"), "made with --weights [0.3, 0.7], now [0.4, 0.6]"),
    ],
)
def test_a_condition_changed_in_the_file_is_refused_naming_the_difference(
        pinned: Path, tmp_path: Path, change: tuple[str, str], cell: tuple[str, str], difference: str) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(pinned.parent / "runs", runs)
    text = pinned.read_text()
    assert change[0] in text
    changed = tmp_path / "grid.yaml"
    changed.write_text(text.replace(f"output: {pinned.parent / 'runs'}", f"output: {runs}").replace(*change))
    condition, dataset = cell
    chosen = ["--conditions", condition, "--datasets", dataset, "--resamples", "400"]
    assert_one_line_error(invoke("reproduce", str(changed), *chosen), f"run.{dataset}.{condition}.txt", difference, "--overwrite")
    redone = invoke("reproduce", str(changed), *chosen, "--overwrite")
    assert redone.exit_code == 0, redone.output
    again = invoke("reproduce", str(changed), *chosen).output
    assert f"{condition} on {dataset}: done, kept" in again and " s -> " not in again


def typed(command: Command) -> str:
    """A cell's command, run as if typed."""
    return main.main(command.argv, standalone_mode=False)


def test_a_killed_grid_resumes_where_it_stopped(pinned: Path, tmp_path: Path) -> None:
    grid = load_grid(pinned)
    cells = plan(grid, tmp_path / "runs", ["bm25.reverse"])
    ReverseTop.crash_after = 100
    try:
        with pytest.raises(CliError, match="interrupted") as caught:  # what the command line makes of a ^C
            run_grid(cells, typed)
        assert caught.value.exit_code == 130
    finally:
        ReverseTop.crash_after = None
    partial = list((tmp_path / "runs").glob("*/*.partial.jsonl"))
    # the 43 DL19 queries finished, then 15 batches of 4 on Cranfield before the "kill" (after the provenance line)
    assert len(partial) == 1 and len(partial[0].read_text().splitlines()) == 1 + 60
    outcomes = run_grid(cells, typed)
    assert [o.status for o in outcomes] == ["kept", "kept", "kept", "made"]  # both BM25 runs and the finished dl19 rerank
    assert not list((tmp_path / "runs").glob("*/*.partial.jsonl"))
    ran = pinned.parent / "runs"
    for path in sorted((tmp_path / "runs").glob("*/run.*.txt")):
        assert path.read_bytes() == (ran / path.relative_to(tmp_path / "runs")).read_bytes()


def one_cell_grid(folder: Path, dataset: str, head: str = "") -> Path:
    """A grid of one cell: DL19's BM25 candidates imported as ``dataset``'s BM25 run."""
    path = folder / "grid.yaml"
    path.write_text(f"{head}output: {folder / 'runs'}\ndatasets:\n  - name: {dataset}\n    first_stages: {{bm25: \"{DL19_CANDIDATES}\"}}\n"
                    "conditions:\n  - name: bm25\n    first_stage: {method: bm25}\n")
    return path


def test_a_cell_whose_run_shares_no_query_with_the_qrels_is_an_error(tmp_path: Path) -> None:
    """DL19's candidates given as DL20's first stage: an error naming the run, not a table of zeros."""
    assert_one_line_error(invoke("reproduce", str(one_cell_grid(tmp_path, "dl20"))), "run.dl20.bm25.txt shares no query with the qrels (43 run queries")
    assert not (tmp_path / "runs" / "table.md").exists()


def test_the_table_measure_is_scored_when_it_is_not_a_standard_one(tmp_path: Path) -> None:
    """The file's measure (P@10: not among DL19's standard measures) is computed for the table, not shown as –."""
    result = invoke("reproduce", str(one_cell_grid(tmp_path, "dl19", "measure: P@10\n")), "--resamples", "400")
    assert result.exit_code == 0, result.output
    run = read_run(tmp_path / "runs" / "dl19" / "run.dl19.bm25.txt")
    assert f"| bm25     | {evaluate(run, get_dataset('dl19').qrels(), ['P@10']).mean['P@10']:.4f} |" in result.stdout


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (("first_stage: bm25\n    rerank: {reranker: identity", "first_stage: bm26\n    rerank: {reranker: identity"),
         ["grid.yaml:13:", "reads unknown condition 'bm26'"]),
        (("{method: bm25, hits: 100}", "{method: dense, hits: 100}"), ["grid.yaml:12:", "dense retrieval needs a model"]),
        (("{method: bm25, hits: 100}", "{method: dense, model: mini}"), ["grid.yaml:10:", "cannot run on dl19: no local corpus to encode"]),
        (("{method: bm25, hits: 100}", "{method: bm25, hits: 0}"), ["grid.yaml:12:", "first_stage.hits: expected >= 1"]),
        (("top_k: 20, batch_size: 8}", "top_k: 20, options: {window: 3}}"), ["grid.yaml:15:", "'window' is no option of reranker 'identity' (it takes none;"]),
        (("top_k: 20, batch_size: 8}", "top_k: 20, options: {nope: 3}}"), ["grid.yaml:15:", "'nope' is no option of reranker 'identity'"]),
        # dense_index: auto planned an encode with no model, found only after the first stages ran
        (("top_k: 20, batch_size: 8}", "top_k: 20, options: {dense_index: auto}}"), ["grid.yaml:15:", "'dense_index' is no option of"]),
        # the rerank command's own arguments, silently overridden by the grid's (top_k) or added to its (overwrite: every run redone)
        (("top_k: 20, batch_size: 8}", "top_k: 20, options: {top_k: 5}}"), ["grid.yaml:15:", "'top_k' is no option of reranker"]),
        (("top_k: 20, batch_size: 8}", "top_k: 20, options: {overwrite: true}}"), ["grid.yaml:15:", "'overwrite' is no option of reranker"]),
        (("  - name: rrf\n", "  - name: bad name\n"), ["grid.yaml:16:", "must be one word"]),
        (("{reranker: identity, top_k: 20, batch_size: 8}", "{reranker: rankgpt, top_k: 20, options: {model: smollm2, window: many}}"),
         ["grid.yaml:15:", "Invalid value for '--window': 'many' is not a valid integer"]),
        (("corpus: ", "corpus: /nonexistent"), ["grid.yaml:7:", "does not exist"]),
        (("runs: [bm25, bm25.identity], fusion: rrf", "runs: [rrf, bm25], fusion: rrf"), ["grid.yaml:", "cycle: rrf -> rrf"]),
        # k, RRF's constant, was dropped from an interpolation's command without a word
        (("fusion: interpolate, weights", "fusion: interpolate, k: 10, weights"),
         ["grid.yaml:19:", "condition 'interp': k does not apply to interpolate (it is for fusion rrf)"]),
        (("expected:\n", "expected:\n  nope: {dl19: {nDCG@10: 0.5}}\n"), ["grid.yaml:24:", "unknown condition 'nope'"]),
        # a pin of a cell the grid does not make was never checked ("N of N pinned scores reproduced")
        (("batch_size: 4}\nexpected:\n", "batch_size: 4}\n    datasets: [dl19]\nexpected:\n  bm25.reverse:\n    cranfield: {nDCG@10: 0.5}\n"),
         ["grid.yaml:26:", "bm25.reverse does not run on 'cranfield'"]),
        # two datasets in one folder: the second's runs overwrote the first's (scored under both names)
        (("  - name: cranfield  ", "  - name: x-cranfield\n    corpus: .\n  - name: x/cranfield  "),
         ["grid.yaml:9:", "'x/cranfield' and 'x-cranfield' share the folder x-cranfield"]),
        (("baseline: bm25", "baseline: bm99"), ["grid.yaml:3:", "baseline 'bm99' is not a condition"]),
        (("title: test grid", "title: test grid\nbogus: 1"), ["grid.yaml:2:", "unknown key 'bogus'"]),
        (("title: test grid", "title: test grid\ntolerance: -0.001"), ["grid.yaml:2:", "tolerance: expected >= 0"]),
        (("title: test grid", "title: test grid\nmeasure: P@0"), ["grid.yaml:2:", "measure 'P@0': cutoff must be an integer >= 1"]),
        (("title: test grid", "title: test grid\nmeasure: foo"), ["grid.yaml:2:", "unknown measure 'foo'"]),
    ],
)
def test_conditions_file_mistakes_are_one_line_errors(tmp_path: Path, cranfield: Path, change: tuple[str, str], fragments: list[str]) -> None:
    path = conditions_file(tmp_path, cranfield, tmp_path / "runs")
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    assert_one_line_error(invoke("reproduce", str(path), "--dry-run"), *fragments)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("change", "where", "arguments"), [
    (("fusion: rrf, depth", "fusion: rrf, k: 0, depth"), "grid.yaml:17: condition 'rrf'", {"k": 0}),
    (("fusion: rrf, depth", "fusion: rrf, k: -60, depth"), "grid.yaml:17: condition 'rrf'", {"k": -60}),
    (("weights: [0.3, 0.7]", "weights: [0, 1]"), "grid.yaml:19: condition 'interp'", {"method": "interpolate", "weights": [0, 1]}),
])
def test_a_conditions_file_refuses_the_fusions_fuse_refuses(tmp_path: Path, cranfield: Path, change: tuple[str, str], where: str,
                                                            arguments: dict) -> None:
    """``k: 0`` or ``weights: [0, 1]`` passed the file's checks and ``fuse`` refused it mid-grid, after the cells before it
    ran: the file is checked by ``fuse``'s own check, so both refuse the same fusions with the same message."""
    run = {"q": [Candidate("d", 1.0)]}
    with pytest.raises(ResrankError) as refused:
        fuse([run, run], **arguments)
    path = conditions_file(tmp_path, cranfield, tmp_path / "runs")
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    assert_one_line_error(invoke("reproduce", str(path), "--dry-run"), f"{where}: {refused.value}")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("option", ["--conditions", "--datasets"])
@pytest.mark.parametrize("value", ["", ",", " , "])
def test_a_selection_that_names_nothing_is_refused_not_read_as_all(tmp_path: Path, cranfield: Path, option: str, value: str) -> None:
    """`--conditions "$UNSET"` ran the whole grid (hours on the paper's file); an empty selection is a mistake."""
    path = conditions_file(tmp_path, cranfield, tmp_path / "runs")
    assert_one_line_error(invoke("reproduce", str(path), "--dry-run", option, value), f"Invalid value for '{option}'", "names none")


@pytest.mark.parametrize("name", ["offline", "paper"])
def test_bundled_conditions_files_are_valid(name: str) -> None:
    from resrank_eval.reproduce import bundled_file

    grid = load_grid(bundled_file(name))
    assert grid.spec.baseline in grid.conditions and grid.cells()
