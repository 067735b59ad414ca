"""A scored run in numbers: per cell (over its repeats) and per column pass rates with confidence intervals,
the Pareto front of quality, cost and latency, and the comparison with a baseline run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from promptvault import gcpause, scorings
from promptvault.grading import OutputScore
from promptvault.context import Context
from promptvault.evalstats import ProportionTest, pareto_front, two_proportion_test, wilson_interval
from promptvault.matrix import Cell, Column, Matrix, cell_key_of, load_matrix, percentile
from promptvault.scorings import ScoringInfo

PASSING = 0.5  # a case passes in a column when at least half its repeats pass


@dataclass(frozen=True)
class CellVerdict:
    """One version × model × case over its repeats: how many passed, the mean score, whether the outputs agree."""

    column_key: str
    case: int
    outputs: int
    passed: int
    mean_score: float | None
    agree: bool
    failed_checks: list[str]

    @property
    def pass_rate(self) -> float:
        """Share of the repeats that passed."""
        return self.passed / self.outputs if self.outputs else 0.0

    @property
    def case_passed(self) -> bool:
        """Whether the case counts as passing in this column: at least half its repeats passed."""
        return self.outputs > 0 and self.pass_rate >= PASSING


@dataclass(frozen=True)
class ColumnScore:
    """One version × model over the run: pass rate (95 % Wilson interval), mean score, latency, tokens, cost."""

    column_key: str
    label: str
    outputs: int
    passed: int
    ci_low: float | None
    ci_high: float | None
    mean_score: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    errors: int
    agreement: float | None  # share of cases whose repeats gave the same output (None without repeats)
    check_pass_rates: dict[str, float] = field(default_factory=dict)
    on_front: bool = False

    @property
    def pass_rate(self) -> float | None:
        """Share of the outputs that passed (None with no outputs)."""
        return self.passed / self.outputs if self.outputs else None

    @property
    def mean_cost_usd(self) -> float:
        """Cost per output."""
        return self.cost_usd / self.outputs if self.outputs else 0.0


@dataclass(frozen=True)
class Evaluation:
    """A run's matrix with the results of its latest scoring."""

    run_id: int
    scoring: ScoringInfo
    matrix: Matrix
    outputs: dict[tuple[int, int, str], OutputScore]  # (case, repeat, column key)
    cells: dict[tuple[int, str], CellVerdict]  # (case, column key)
    columns: list[ColumnScore]

    @property
    def check_names(self) -> list[str]:
        """The names of the scoring's checks, in order."""
        return [c.get("name") or c.get("type", "?") for c in self.scoring.checks]

    def column(self, key: str) -> ColumnScore | None:
        """One column's score."""
        return next((c for c in self.columns if c.column_key == key), None)


@dataclass(frozen=True)
class ColumnDelta:
    """A column's pass rate against its counterpart in the baseline, and whether the change is beyond noise."""

    column_key: str
    label: str
    baseline_key: str | None
    baseline_label: str | None
    passed: int
    outputs: int
    baseline_passed: int
    baseline_outputs: int
    test: ProportionTest | None

    @property
    def delta(self) -> float | None:
        """Pass rate now minus in the baseline."""
        return None if self.test is None else self.test.rate_b - self.test.rate_a

    @property
    def verdict(self) -> str:
        """'better', 'worse' (beyond noise), 'no significant change', or 'no counterpart'."""
        if self.test is None:
            return "no counterpart" if self.baseline_key is None else "no outputs"
        if not self.test.significant:
            return "no significant change"
        return "better" if self.test.rate_b > self.test.rate_a else "worse"


@dataclass(frozen=True)
class CaseDelta:
    """One case in one column, now and in the baseline."""

    case: int
    column_key: str
    label: str
    baseline_rate: float
    rate: float
    failed_checks: list[str]

    @property
    def status(self) -> str:
        """'newly failing', 'newly passing', 'still failing' or 'still passing'."""
        was, now = self.baseline_rate >= PASSING, self.rate >= PASSING
        if was != now:
            return "newly passing" if now else "newly failing"
        return "still passing" if now else "still failing"


@dataclass(frozen=True)
class Comparison:
    """A run against a baseline run: per column and per case, newly failing cases first."""

    run_id: int
    baseline_id: int
    columns: list[ColumnDelta]
    cases: list[CaseDelta]
    same_checks: bool = True  # pass rates of runs scored with different checks measure different things

    @property
    def regressions(self) -> list[CaseDelta]:
        """Cases that passed in the baseline and fail now."""
        return [c for c in self.cases if c.status == "newly failing"]


def evaluate_run(ctx: Context, root: Path | str, run_id: int, matrix: Matrix | None = None) -> Evaluation | None:
    """The run's latest finished scoring over its matrix, or None when it was never scored."""
    scoring = scorings.latest(ctx, run_id, statuses=("done",))  # a failed re-score leaves the last good one shown
    if scoring is None:
        return None
    matrix = matrix or load_matrix(ctx, root, run_id)
    by_key = scorings.load_scores(ctx, scoring.id)
    with gcpause.paused():
        outputs = {index: by_key[key] for index in matrix.cells if (key := cell_key_of(index)) in by_key}
        return build(run_id, scoring, matrix, outputs)


def build(run_id: int, scoring: ScoringInfo, matrix: Matrix, outputs: dict) -> Evaluation:
    """An Evaluation from a matrix and its outputs' scores."""
    by_column: dict[str, list[tuple[int, int]]] = defaultdict(list)  # column key -> its (case, repeat)s
    for case, repeat, key in matrix.cells:
        by_column[key].append((case, repeat))
    cells, columns = {}, []
    for column in matrix.columns:
        found = by_column[column.key]
        verdicts = [_verdict(matrix, outputs, case, column.key) for case in sorted({case for case, _ in found})]
        cells.update({(v.case, column.key): v for v in verdicts})
        mine = [(matrix.cells[(case, repeat, column.key)], outputs.get((case, repeat, column.key)))
                for case, repeat in found]
        columns.append(_column_score(column, mine, verdicts, matrix.repeats))
    front = pareto_front([_point(c) for c in columns])
    columns = [replace(c, on_front=True) if i in front and c.outputs else c for i, c in enumerate(columns)]
    return Evaluation(run_id, scoring, matrix, outputs, cells, columns)


def _verdict(matrix: Matrix, outputs: dict, case: int, key: str) -> CellVerdict:
    """One case × column over its repeats."""
    found = [(matrix.cells[(case, r, key)], outputs.get((case, r, key))) for r in range(1, matrix.repeats + 1)
             if (case, r, key) in matrix.cells]
    scores = [s.score for _, s in found if s is not None and s.score is not None]
    texts = {(cell.output or "").strip() if not cell.failed else None for cell, _ in found}
    failed = sorted({name for _, s in found if s is not None for name in s.failed_names()})
    return CellVerdict(key, case, len(found), sum(1 for _, s in found if s is not None and s.passed),
                       sum(scores) / len(scores) if scores else None, len(texts) == 1, failed)


def _column_score(column: Column, mine: list[tuple[Cell, OutputScore | None]], verdicts: list[CellVerdict],
                  repeats: int) -> ColumnScore:
    """One column's statistics over its outputs (and its cases' verdicts, for agreement over repeats)."""
    passed = sum(1 for _, s in mine if s is not None and s.passed)
    interval = wilson_interval(passed, len(mine))
    scores = [s.score for _, s in mine if s is not None and s.score is not None]
    latencies = [c.latency_ms for c, _ in mine if not c.failed and c.latency_ms is not None]
    return ColumnScore(
        column.key, column.label, len(mine), passed, *(interval or (None, None)),
        sum(scores) / len(scores) if scores else None,
        percentile(latencies, 50) if latencies else None, percentile(latencies, 95) if latencies else None,
        sum(c.input_tokens or 0 for c, _ in mine), sum(c.output_tokens or 0 for c, _ in mine),
        sum(c.cost_usd or 0.0 for c, _ in mine), sum(1 for c, _ in mine if c.failed),
        sum(v.agree for v in verdicts) / len(verdicts) if verdicts and repeats > 1 else None,
        _check_rates([s for _, s in mine if s is not None]),
    )


def _check_rates(scores: list[OutputScore]) -> dict[str, float]:
    """Each check's pass rate over a column's scored outputs."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for score in scores:
        for result in score.results:
            counts[result.name][0] += result.passed
            counts[result.name][1] += 1
    return {name: passed / total for name, (passed, total) in counts.items()}


def _point(c: ColumnScore) -> tuple[float, float, float]:
    """A column as (quality, cost, latency) for the Pareto front; a column with no latency is slowest."""
    latency = round(c.latency_p50_ms) if c.latency_p50_ms is not None else float("inf")  # a ms apart is a tie
    return (c.pass_rate or 0.0, c.mean_cost_usd, latency)


def compare(current: Evaluation, baseline: Evaluation) -> Comparison:
    """Per-column pass-rate changes (two-proportion test) and per-case changes, newly failing first."""
    pairs = match_columns(current.matrix.columns, baseline.matrix.columns)
    deltas, cases = [], []
    for column in current.columns:
        other_key = pairs.get(column.column_key)
        other = baseline.column(other_key) if other_key else None
        test = two_proportion_test(other.passed, other.outputs, column.passed, column.outputs) if other else None
        deltas.append(ColumnDelta(column.column_key, column.label, other_key, other.label if other else None,
                                  column.passed, column.outputs, other.passed if other else 0,
                                  other.outputs if other else 0, test))
        for case in current.matrix.cases if other_key else []:
            now, was = current.cells.get((case, column.column_key)), baseline.cells.get((case, other_key))
            if now is not None and was is not None:
                cases.append(CaseDelta(case, column.column_key, column.label, was.pass_rate, now.pass_rate,
                                       now.failed_checks))
    order = {"newly failing": 0, "still failing": 1, "newly passing": 2, "still passing": 3}
    cases.sort(key=lambda c: (order[c.status], c.rate - c.baseline_rate, c.case))
    same = current.scoring.checks == baseline.scoring.checks
    return Comparison(current.run_id, baseline.run_id, deltas, cases, same)


def match_columns(current: list[Column], baseline: list[Column]) -> dict[str, str]:
    """Each current column's counterpart in the baseline: the same version and model, else the same model when
    the baseline ran it with one version, else the only column when each run has one."""
    pairs = {}
    for column in current:
        same_model = [b for b in baseline if b.model == column.model]
        exact = [b for b in same_model if b.version_id == column.version_id]
        if exact:
            pairs[column.key] = exact[0].key
        elif len(same_model) == 1:
            pairs[column.key] = same_model[0].key
    if not pairs and len(current) == 1 and len(baseline) == 1:
        pairs[current[0].key] = baseline[0].key
    return pairs
