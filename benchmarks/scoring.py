"""Scoring a finished run (`scorer.rescore`) and evaluating it (`evaluation.evaluate_run`) against reading its outputs
and plain Python checks; LLM judges over the loopback fake against the ideal, and again from the cache.

Usage: .venv/bin/python benchmarks/scoring.py [--quick] [--repeats N] [--profile]

A temp SQLite workspace holds one prompt ('{{ q }}') and a dataset whose expected outputs match the offline echo's
answer for half the cases. The real runner writes a finished run of offline/echo over cases x 2 repeats. Then:
(1) `scorer.rescore` with 8 deterministic checks (equals expected, contains, contains-all, regex, is-json, length,
similar, latency), beside (a) `matrix.load_matrix` of the run, the floor any scoring pays to read the outputs, and
(b) a bare loop applying the same checks as plain `==`, `in`, `re.search`, `json.loads`, `len` and rapidfuzz to the
outputs already loaded (the expected outputs too); ours and bare must count the same passes per check.
(2) `evaluation.evaluate_run` of the scored run (what the Compare page computes) beside (a).
(3) A run of fewer outputs scored by an `llm-judge` over the fake provider, served by a child process (as in
benchmarks/runner.py) with a fixed latency, at the run's concurrency; against the ideal ceil(outputs / concurrency)
x latency. Each timed scoring asks with a new rubric, so no answer is cached; then the last one is re-scored, every
judge answer coming from the response cache (the fake's call count must not grow).
Timed runs alternate between contenders and the table shows medians. Exit status 1 when a target is MISSed on a
full run; `--quick` shrinks every size for a smoke run and exits 0.
"""

import argparse
import asyncio
import cProfile
import csv
import io
import json
import math
import os
import pstats
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from any folder
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: no network for the price map

from rapidfuzz.distance import Levenshtein  # noqa: E402

from benchmarks.runner import FakeServer, drain_litellm_logging  # noqa: E402
from promptvault import datasets, evaluation, library, matrix, runner, runs, scorer, scorings, versioning  # noqa: E402
from promptvault.config import load_settings  # noqa: E402
from promptvault.providers import OFFLINE_MODEL, OFFLINE_PREFIX  # noqa: E402
from promptvault.run_spec import parse_spec  # noqa: E402
from promptvault.workspace import open_workspace  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How big each measure is."""

    cases: int  # cases of the deterministic run; it has `repeats` outputs per case
    repeats: int
    judged: int  # outputs of the judged run
    latency: float  # seconds the fake judge waits before each answer
    concurrency: int
    timings: int  # timed runs per contender


FULL = Sizes(cases=10_000, repeats=2, judged=400, latency=0.5, concurrency=50, timings=3)
QUICK = Sizes(cases=250, repeats=2, judged=40, latency=0.2, concurrency=50, timings=1)
SCORE_TARGET, EVALUATE_TARGET, JUDGE_TARGET = 3.0, 2.5, 1.5
BENCH, TEMPLATE = "bench", "{{ q }}"
JUDGE = "judge"
JUDGE_REPLY = '{{"score": 8, "reasoning": "ok"}}'  # a str.format template: the fake fills {model} and {last_user}
WARMUP_CASES = 10
CONTAINS, CONTAINS_ALL, PATTERN, MAX_CHARS, MAX_MS, SIMILAR = "plus", ["what", "is"], r"\d+ plus \d+", 60, 60_000, 0.8
CHECKS = [{"type": "equals"}, {"contains": CONTAINS}, {"contains-all": CONTAINS_ALL}, {"regex": PATTERN}, "is-json",
          {"type": "length", "max": MAX_CHARS}, {"type": "similar"}, {"type": "latency", "max_ms": MAX_MS}]
PROFILED = r"promptvault/|dataclasses|json/|sqlalchemy/engine"
CHECK_TYPES = ["equals", "contains", "contains-all", "regex", "is-json", "length", "similar", "latency"]


def question(n: int) -> str:
    """Case n's question; its length varies, so the length check passes for some."""
    return f"what is {n} plus {n}?" + " Show your work." * (n % 3)


def expected(n: int) -> str:
    """What the echo answers for even cases; a short number (similar, not equal) for odd ones."""
    return OFFLINE_PREFIX + question(n) if n % 2 == 0 else f"{OFFLINE_PREFIX}what is {n} plus {n}"


class Bench:
    """A workspace in a temp folder holding the benchmark prompt, its datasets and runs."""

    def __init__(self, folder: Path):
        self.ws = open_workspace(load_settings({"PROMPTVAULT_DATA_DIR": str(folder)}))
        self.ctx = self.ws.local_context()
        self.root = self.ws.settings.data_dir
        library.create_prompt(self.ctx, BENCH)
        versioning.commit(self.ctx, BENCH, TEMPLATE, {"temperature": 0}, "v1")

    def dataset(self, cases: int) -> str:
        """A new dataset of `cases` questions with their expected outputs."""
        name, out = f"qs-{cases}", io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["q", "expected"])
        writer.writerows((question(n), expected(n)) for n in range(1, cases + 1))
        datasets.import_cases(self.ctx, name, out.getvalue().encode(), f"{name}.csv")
        return name

    def run(self, cases: int, repeats: int, concurrency: int) -> int:
        """A finished offline/echo run over a new dataset, written by the real runner, without checks; its id."""
        spec = parse_spec({"prompt": BENCH, "models": [OFFLINE_MODEL], "dataset": self.dataset(cases),
                           "repeats": repeats, "concurrency": concurrency, "timeout": 30, "cache": False})
        final = runner.run_to_end(self.ctx, runner.start(self.ctx, spec).id, self.root)
        assert final.status == "done" and final.done_cells == cases * repeats, final
        return final.id

    def rescore(self, run_id: int, checks: list) -> scorings.ScoringInfo:
        """A new scoring of the run, which must finish done."""
        found = scorer.rescore(self.ctx, self.root, run_id, checks)
        assert found.status == "done", found
        return found

    def close(self) -> None:
        """Release the database."""
        self.ws.db.dispose()


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(contenders: dict[str, Callable[[], object]], times: int) -> dict[str, list[float]]:
    """Each contender timed `times` times, their order reversed every other round."""
    found: dict[str, list[float]] = {name: [] for name in contenders}
    for n in range(times):
        for name in list(contenders)[:: 1 if n % 2 == 0 else -1]:
            found[name].append(timed(contenders[name]))
    return found


# deterministic scoring and evaluation ------------------------------------------------------------------------------


def is_json(text: str) -> bool:
    """Whether text parses as JSON."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def bare_checks(loaded: matrix.Matrix, wanted: dict[int, str]) -> Counter:
    """Passes per check type of the plain-Python checks over the loaded outputs."""
    passes: Counter = Counter()
    pattern = re.compile(PATTERN)
    for (case, _, _), cell in loaded.cells.items():
        out, target = cell.output or "", wanted[case]
        verdicts = (out.strip() == target.strip(), CONTAINS in out, all(v in out for v in CONTAINS_ALL),
                    pattern.search(out) is not None, is_json(out), len(out) <= MAX_CHARS,
                    Levenshtein.normalized_similarity(out.strip(), target.strip()) >= SIMILAR,
                    cell.latency_ms is not None and cell.latency_ms <= MAX_MS)
        passes.update(kind for kind, ok in zip(CHECK_TYPES, verdicts) if ok)
    return passes


def our_passes(bench: Bench, scoring_id: int) -> Counter:
    """Passes per check type of a stored scoring."""
    passes: Counter = Counter()
    for score in scorings.load_scores(bench.ctx, scoring_id).values():
        passes.update(r.type for r in score.results if r.passed)
    return passes


def deterministic(bench: Bench, run_id: int, sizes: Sizes) -> dict[str, list[float]]:
    """Rescore, load_matrix, the bare checks and evaluate_run, timed alternately; ours and bare must agree."""
    loaded = matrix.load_matrix(bench.ctx, bench.root, run_id)
    spec = runs.get_run(bench.ctx, run_id).spec
    wanted = {c.position: c.expected for c in datasets.get_cases(bench.ctx, spec["dataset"])}
    ours = bench.rescore(run_id, CHECKS)  # warm-up, and the scoring the agreement check reads
    bare = bare_checks(loaded, wanted)
    mine = our_passes(bench, ours.id)
    assert mine == bare, (mine, bare)
    print(f"  check: ours and bare agree on the passes per check of {len(loaded.cells):,} outputs: "
          + ", ".join(f"{kind} {bare[kind]:,}" for kind in CHECK_TYPES))
    evaluation.evaluate_run(bench.ctx, bench.root, run_id)
    samples = alternate({"rescore": lambda: bench.rescore(run_id, CHECKS),
                         "load_matrix": lambda: matrix.load_matrix(bench.ctx, bench.root, run_id),
                         "bare": lambda: bare_checks(loaded, wanted),
                         "evaluate_run": lambda: evaluation.evaluate_run(bench.ctx, bench.root, run_id)}, sizes.timings)
    samples["evaluate_run again"] = [timed(lambda: evaluation.evaluate_run(bench.ctx, bench.root, run_id))
                                     for _ in range(sizes.timings)]  # the page's reruns: the scoring is decoded once
    for name, walls in samples.items():
        print(f"  {name}: " + "/".join(f"{w:.3f}" for w in walls) + " s")
    return samples


def timed(call) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def profile_rescore(bench: Bench, run_id: int, top: int = 30) -> None:
    """cProfile of one rescore and one evaluate_run, by cumulative time; the scorer's threads run inline to be seen."""
    async def inline(fn, /, *args, **kwargs):  # cProfile sees only its own thread: no worker threads while profiled
        return fn(*args, **kwargs)

    for label, fn in (("rescore", lambda: bench.rescore(run_id, CHECKS)),
                      ("evaluate_run", lambda: evaluation.evaluate_run(bench.ctx, bench.root, run_id))):
        profiler = cProfile.Profile()
        with mock.patch.object(asyncio, "to_thread", inline):
            profiler.runcall(fn)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumtime").print_stats(PROFILED, top)
        print(f"\nProfile of {label}, top {top} by cumtime (promptvault, dataclasses, json, SQLAlchemy's engine):")
        print(out.getvalue().split("\n", 4)[-1].rstrip())


# judges --------------------------------------------------------------------------------------------------------------


def judge_check(base_url: str, rubric: str) -> dict:
    """An llm-judge check asking the fake's judge model."""
    return {"type": "llm-judge", "model": {"model": JUDGE, "api_base": base_url}, "rubric": rubric}


def judges(bench: Bench, sizes: Sizes) -> dict[str, list[float]]:
    """Judge scorings of a run with a new rubric each (every answer called), then cached re-scorings."""
    warm, run_id = bench.run(WARMUP_CASES, 1, sizes.concurrency), bench.run(sizes.judged, 1, sizes.concurrency)
    samples: dict[str, list[float]] = {"called": [], "cached": []}
    cpu: dict[str, float] = {"called": 0.0, "cached": 0.0}
    with FakeServer(latency=sizes.latency, replies={JUDGE: JUDGE_REPLY}) as fake:
        bench.rescore(warm, [judge_check(fake.base_url, "warm-up")])  # litellm's first-call imports, the keys
        drain_litellm_logging()
        for n in range(sizes.timings):
            before, check = fake.calls(), judge_check(fake.base_url, f"Is the answer right? (round {n + 1})")
            cpu["called"] -= time.process_time()
            samples["called"].append(timed(lambda: bench.rescore(run_id, [check])))
            cpu["called"] += time.process_time()
            drain_litellm_logging()  # litellm's queued bookkeeping, outside the timing, as in benchmarks/runner.py
            assert fake.calls() - before == sizes.judged, (fake.calls(), before)
        judged = scorings.load_scores(bench.ctx, scorings.latest(bench.ctx, run_id).id)
        assert len(judged) == sizes.judged and all(s.passed and s.score == 0.8 for s in judged.values())
        before = fake.calls()
        for _ in range(sizes.timings):
            cpu["cached"] -= time.process_time()
            samples["cached"].append(timed(lambda: bench.rescore(run_id, [check])))
            cpu["cached"] += time.process_time()
            drain_litellm_logging()
        assert fake.calls() == before, f"the cached re-scoring called the judge {fake.calls() - before} times"
        print(f"  llm-judge: called {fmt(samples['called'])}, cached {fmt(samples['cached'])}; the fake answered "
              f"{fake.calls():,} calls, none during the cached re-scorings; this process's CPU per judged output: "
              + ", ".join(f"{k} {v / sizes.timings / sizes.judged * 1e3:.2f} ms" for k, v in cpu.items()))
    return samples


def fmt(walls: list[float]) -> str:
    """Wall times in order."""
    return "/".join(f"{w:.2f}" for w in walls) + " s"


# report --------------------------------------------------------------------------------------------------------------


def report(det: dict[str, list[float]], judge: dict[str, list[float]], sizes: Sizes) -> list[tuple[str, bool]]:
    """Print the table; each target with whether it was met."""
    med = {name: median(walls) for name, walls in {**det, **judge}.items()}
    outputs, ideal = sizes.cases * sizes.repeats, math.ceil(sizes.judged / sizes.concurrency) * sizes.latency
    floor = med["load_matrix"] + med["bare"]
    rows = [("load_matrix (a)", outputs, med["load_matrix"], 1.0, None, None),
            ("bare checks (b)", outputs, med["bare"], med["bare"] / med["load_matrix"], None, None),
            ("rescore, 8 checks", outputs, med["rescore"], med["rescore"] / med["load_matrix"], med["rescore"] / floor, None),
            ("evaluate_run", outputs, med["evaluate_run"], med["evaluate_run"] / med["load_matrix"], None, None),
            ("evaluate_run again", outputs, med["evaluate_run again"], med["evaluate_run again"] / med["load_matrix"],
             None, None),
            ("judge ideal", sizes.judged, ideal, None, None, 1.0),
            ("llm-judge", sizes.judged, med["called"], None, None, med["called"] / ideal),
            ("llm-judge, cached", sizes.judged, med["cached"], None, None, med["cached"] / ideal)]
    print(f"{'measure':<18} {'outputs':>8} {'median s':>9} {'µs/output':>10} {'vs (a)':>8} {'vs (a)+(b)':>11} {'vs ideal':>9}")
    for name, count, wall, vs_a, vs_ab, vs_ideal in rows:
        print(f"{name:<18} {count:>8,} {wall:9.3f} {wall / count * 1e6:10.1f} {ratio(vs_a):>8} {ratio(vs_ab):>11} "
              f"{ratio(vs_ideal):>9}")
    print(f"re-scoring from the cache is {med['called'] / med['cached']:.1f}x faster than calling the judge")
    score, evaluate, judged = med["rescore"] / floor, med["evaluate_run"] / med["load_matrix"], med["called"] / ideal
    return [(f"rescore/((a)+(b)) {score:.2f}x <= {SCORE_TARGET:g}x", score <= SCORE_TARGET),
            (f"evaluate_run/(a) {evaluate:.2f}x <= {EVALUATE_TARGET:g}x", evaluate <= EVALUATE_TARGET),
            (f"llm-judge/ideal {judged:.2f}x <= {JUDGE_TARGET:g}x ({sizes.judged} outputs at concurrency "
             f"{sizes.concurrency}, {sizes.latency:g} s each: ideal {ideal:.1f} s)", judged <= JUDGE_TARGET)]


def summary(det: dict[str, list[float]], judge: dict[str, list[float]], sizes: Sizes,
            judged: list[tuple[str, bool]]) -> str:
    """The one-line summary."""
    med = {name: median(walls) for name, walls in {**det, **judge}.items()}
    ideal = math.ceil(sizes.judged / sizes.concurrency) * sizes.latency
    return (f"Summary: {sum(ok for _, ok in judged)} of {len(judged)} targets met; rescore "
            f"{med['rescore'] / (sizes.cases * sizes.repeats) * 1e6:.0f} µs/output = "
            f"{med['rescore'] / (med['load_matrix'] + med['bare']):.2f}x (a)+(b), evaluate_run "
            f"{med['evaluate_run'] / med['load_matrix']:.2f}x (a), llm-judge {med['called'] / ideal:.2f}x ideal, "
            f"cached {med['called'] / med['cached']:.1f}x faster")


def ratio(value: float | None) -> str:
    """A ratio as shown in the table, '-' when it does not apply."""
    return "-" if value is None else f"{value:.2f}x"


def main(argv: list[str] | None = None) -> int:
    """Build the runs, time every measure, print the table and the targets; 1 when one is missed on a full run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (targets still printed)")
    parser.add_argument("--repeats", type=int, help="timed runs per contender")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of rescore and evaluate_run")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = replace(sizes, timings=args.repeats or sizes.timings)
    started = time.perf_counter()
    print(f"PromptVault scoring benchmark ({'quick: smoke sizes, not the target sizes' if args.quick else 'full'}): "
          f"{sizes.cases * sizes.repeats:,} outputs ({sizes.cases:,} cases x {sizes.repeats}), {sizes.judged} judged "
          f"at concurrency {sizes.concurrency}, judge latency {sizes.latency:g} s; {sizes.timings} timed run(s) each; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="pv-bench-scoring-") as tmp:
        bench = Bench(Path(tmp))
        try:
            wall = time.perf_counter()
            run_id = bench.run(sizes.cases, sizes.repeats, sizes.concurrency)
            print(f"[1/3] the runner wrote {sizes.cases * sizes.repeats:,} outputs in {time.perf_counter() - wall:.1f} s;"
                  " rescore, load_matrix (a), bare checks (b) and evaluate_run")
            det = deterministic(bench, run_id, sizes)
            if args.profile:
                profile_rescore(bench, run_id)
            print("[2/3] llm-judge over the fake in a child process, a new rubric per run; "
                  "[3/3] the last rubric again, from the cache")
            judge = judges(bench, sizes)
        finally:
            bench.close()
    print(f"\nSummary (medians of wall time; took {time.perf_counter() - started:.0f} s)")
    judged = report(det, judge, sizes)
    print("\nTargets")
    for label, ok in judged:
        print(f"  {'PASS' if ok else 'MISS'}  {label}")
    print(summary(det, judge, sizes, judged))
    return 1 if not args.quick and not all(ok for _, ok in judged) else 0


if __name__ == "__main__":
    sys.exit(main())
