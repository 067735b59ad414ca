"""Our runner against a bare `asyncio.gather` of litellm calls and the ideal, on the fake provider in its own process.

Usage: .venv/bin/python benchmarks/runner.py [--quick] [--repeats N] [--memory-calls N] [--profile]

Three ways through one matrix, in one process: (1) `runner.run_to_end`; (2) `litellm.acompletion` calls under an
asyncio.Semaphore of the same concurrency (num_retries=0: failures are recorded, not retried); (3) the ideal,
ceil(calls / concurrency) x latency. Ours and bare run alternately and the table shows medians. Wall time ends
when the run (or the gather) returns; CPU per call is this process's CPU time (time.process_time) / calls, and
includes draining litellm's queue of logging callbacks after the run, so that no contender inherits the other's
backlog (litellm carries it over to the next event loop). The fake provider serves from a subprocess, so its CPU
never competes with the event loop measured. Last, many zero-latency calls go through ours and through bare
litellm (bounded workers), each in a fresh child process, to show how far peak RSS grows beyond litellm's own:
the runner streams its rows to Parquet instead of holding them.
Exit status 1 when a target is MISSed on a full run; `--quick` shrinks every size for a smoke run and exits 0.
"""

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from any folder
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: no network for the price map

import litellm  # noqa: E402
from litellm.litellm_core_utils.litellm_logging import Logging  # noqa: E402
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER  # noqa: E402

LITELLM_PRICING = Logging.response_cost_calculator  # as installed, before promptvault.providers turns it off

from promptvault import datasets, history, library, runner, runs, versioning  # noqa: E402
from promptvault.config import load_settings  # noqa: E402
from promptvault.context import Context  # noqa: E402
from promptvault.run_spec import parse_spec  # noqa: E402
from promptvault.workspace import open_workspace  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How big each measure is."""

    calls: int  # calls of the timed matrix
    concurrency: int
    latency: float  # seconds the fake waits before each answer
    repeats: int  # timed runs per contender and scenario
    memory_calls: int  # calls of the large zero-latency run
    memory_concurrency: int


FULL = Sizes(calls=2_000, concurrency=100, latency=1.0, repeats=3, memory_calls=20_000, memory_concurrency=200)
QUICK = Sizes(calls=200, concurrency=50, latency=0.2, repeats=1, memory_calls=300, memory_concurrency=50)
ERRORS = {"429": 0.025, "500": 0.025}
RETRY_AFTER = 0.1
IDEAL_TARGET, BARE_TARGET = 1.10, 1.05
MEMORY_TARGET = 0.10  # late RSS growth beyond bare litellm's: at most this share of holding those rows as dicts
MODEL = "fake-model"
BENCH = "bench"
TEMPLATE = "Answer {{ q }}"
PARAMS = {"temperature": 0.7}
TIMEOUT = 30.0
WARMUP_CALLS = 20
MEMORY_CASES = 1_000  # cases of the large run's dataset; repeats make up the calls (a dataset holds <= 50,000)
MEMORY_WARMUP_SHARE = 20  # a first run of 1/20 of the calls brings the child's heap to a steady state
MAX_REPEATS = 100  # RunSpec.repeats
FAKE_SERVER = """
import json, sys
from promptvault.testing.fake_provider import FakeConfig, FakeProvider
with FakeProvider(FakeConfig(**json.loads(sys.argv[1]))) as fake:
    print(fake.base_url, flush=True)
    for _ in sys.stdin:
        print(fake.calls(), flush=True)
"""


# the fake provider, in a subprocess -----------------------------------------------------------------------------


class FakeServer:
    """`FakeProvider(FakeConfig(**config))` served by a child Python; its base_url and call count over pipes."""

    def __init__(self, **config):
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> "FakeServer":
        self.proc = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, json.dumps(self.config)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.__exit__()
            raise RuntimeError("the fake provider did not start")
        return self

    def calls(self) -> int:
        """Chat calls the fake has answered so far."""
        self.proc.stdin.write("calls\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def __exit__(self, *exc_info) -> None:
        self.proc.stdin.close()  # the child's loop over stdin ends and the fake stops
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# the three contenders ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One timed run of a contender."""

    wall: float
    cpu: float
    done: int
    failed: int
    sent: int  # requests sent, retries included

    @property
    def retried(self) -> int:
        """Requests beyond the first of each cell."""
        return self.sent - self.done - self.failed


def ideal_seconds(calls: int, concurrency: int, latency: float) -> float:
    """The least wall time: full waves of `concurrency` calls, each taking the latency."""
    return math.ceil(calls / concurrency) * latency


def questions(count: int) -> list[str]:
    """The dataset's questions, all distinct."""
    return [f"what is {n} plus {n}?" for n in range(count)]


class Ours:
    """A workspace in a temp folder holding the benchmark prompt and its datasets; runs through our runner."""

    def __init__(self, folder: Path):
        self.ws = open_workspace(load_settings({"PROMPTVAULT_DATA_DIR": str(folder)}))
        self.ctx: Context = self.ws.local_context()
        library.create_prompt(self.ctx, BENCH)
        versioning.commit(self.ctx, BENCH, TEMPLATE, PARAMS, "v1")
        self.datasets: dict[int, str] = {}

    def dataset(self, cases: int) -> str:
        """The name of a dataset of `cases` questions, imported on first use."""
        if cases not in self.datasets:
            name = f"qs-{cases}"
            csv = "q\n" + "\n".join(questions(cases)) + "\n"
            datasets.import_cases(self.ctx, name, csv.encode(), f"{name}.csv")
            self.datasets[cases] = name
        return self.datasets[cases]

    def run(self, base_url: str, calls: int, concurrency: int, cases: int | None = None) -> Outcome:
        """One run of `calls` calls (cases x repeats) to the fake, timed from start to final record."""
        cases = cases or calls
        spec = parse_spec({"prompt": BENCH, "models": [{"model": MODEL, "api_base": base_url}],
                           "dataset": self.dataset(cases), "concurrency": concurrency, "repeats": calls // cases,
                           "timeout": TIMEOUT, "cache": False})
        info = runner.start(self.ctx, spec)
        seen: list[runner.RunStats] = []
        wall, cpu = time.perf_counter(), time.process_time()
        runner.run_to_end(self.ctx, info.id, self.ws.settings.data_dir, seen.append)
        wall = time.perf_counter() - wall
        drain_litellm_logging()
        cpu = time.process_time() - cpu
        final = runs.get_run(self.ctx, info.id)  # run_to_end's record can predate the last counters (see report)
        if final.status != "done" or final.done_cells + final.failed_cells != calls:
            rows = history.HistoryReader(self.ws.settings.data_dir).rows(columns=["cell_key"], run_id=info.id).height
            raise AssertionError(f"run {info.id} ended {final.status} with {final.done_cells} done and "
                                 f"{final.failed_cells} failed of {calls} cells ({rows} history rows, stats {seen[-1]})")
        return Outcome(wall, cpu, final.done_cells, final.failed_cells, seen[-1].calls)

    def close(self) -> None:
        """Release the database."""
        self.ws.db.dispose()


@contextlib.contextmanager
def litellm_as_installed():
    """Bare litellm keeps its own per-call pricing, which our provider adapter switches off for its calls."""
    ours = Logging.response_cost_calculator
    Logging.response_cost_calculator = LITELLM_PRICING
    try:
        yield
    finally:
        Logging.response_cost_calculator = ours


def drain_litellm_logging() -> None:
    """Run litellm's queued logging callbacks (its per-call bookkeeping) to the end, in a loop of their own."""
    asyncio.run(GLOBAL_LOGGING_WORKER.flush())


async def bare_call(base_url: str, question: str) -> bool:
    """One bare litellm call as ours renders it; False when it failed (no retries: litellm's and the SDK's off)."""
    try:
        await litellm.acompletion(model=f"openai/{MODEL}", api_base=base_url, api_key="no-key", timeout=TIMEOUT,
                                  messages=[{"role": "user", "content": f"Answer {question}"}],
                                  num_retries=0, max_retries=0, **PARAMS)
    except Exception:  # noqa: BLE001 - a failed call is counted, as a run without retries would
        return False
    return True


def bare(base_url: str, calls: int, concurrency: int, pooled: bool = False) -> Outcome:
    """The same calls as bare litellm: a gather of all under a semaphore, or (`pooled`) `concurrency` workers."""
    async def gather() -> list[bool]:
        slots = asyncio.Semaphore(concurrency)

        async def one(question: str) -> bool:
            async with slots:
                return await bare_call(base_url, question)
        return await asyncio.gather(*(one(q) for q in questions(calls)))

    async def pool() -> list[bool]:  # no task per call up front: memory stays litellm's own
        todo, ok = iter(questions(calls)), []

        async def worker() -> None:
            for question in todo:
                ok.append(await bare_call(base_url, question))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok

    with litellm_as_installed():
        wall, cpu = time.perf_counter(), time.process_time()
        results = asyncio.run(pool() if pooled else gather())
        wall = time.perf_counter() - wall
        drain_litellm_logging()
        cpu = time.process_time() - cpu
    return Outcome(wall, cpu, sum(results), calls - sum(results), calls)


# scenarios -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Medians of ours and bare over alternating runs, beside the ideal."""

    name: str
    calls: int
    ideal: float
    ours: list[Outcome]
    bare: list[Outcome]

    def med(self, side: str, measure: Callable[[Outcome], float]) -> float:
        """The median of a measure over one contender's runs."""
        return median(measure(o) for o in getattr(self, side))

    @property
    def vs_ideal(self) -> float:
        """Our median wall time as a multiple of the ideal."""
        return self.med("ours", lambda o: o.wall) / self.ideal

    @property
    def vs_bare(self) -> float:
        """Our median wall time as a multiple of bare litellm's."""
        return self.med("ours", lambda o: o.wall) / self.med("bare", lambda o: o.wall)


def scenario(name: str, ours: Ours, sizes: Sizes, **fake) -> Scenario:
    """Warm both paths up on a fresh fake, then alternate ours and bare `sizes.repeats` times each."""
    with FakeServer(latency=sizes.latency, **fake) as server:
        ours.run(server.base_url, WARMUP_CALLS, sizes.concurrency)
        bare(server.base_url, WARMUP_CALLS, sizes.concurrency)
        mine, theirs = [], []
        for n in range(sizes.repeats):
            pair = [lambda: mine.append(ours.run(server.base_url, sizes.calls, sizes.concurrency)),
                    lambda: theirs.append(bare(server.base_url, sizes.calls, sizes.concurrency))]
            for go in pair if n % 2 == 0 else reversed(pair):
                go()
        print(f"  {name}: ours {fmt_walls(mine)}, bare {fmt_walls(theirs)}; the fake answered {server.calls():,} calls")
    return Scenario(name, sizes.calls, ideal_seconds(sizes.calls, sizes.concurrency, sizes.latency), mine, theirs)


def fmt_walls(outcomes: list[Outcome]) -> str:
    """The wall times of runs, in order."""
    return "/".join(f"{o.wall:.2f}" for o in outcomes) + " s"


def profile_ours(ours: Ours, sizes: Sizes, top: int = 30) -> None:
    """cProfile of one clean run of our runner, by own time and by cumulative time."""
    with FakeServer(latency=sizes.latency) as server:
        profiler = cProfile.Profile()
        profiler.enable()
        ours.run(server.base_url, sizes.calls, sizes.concurrency)
        profiler.disable()
    for key in ("tottime", "cumtime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(top)
        print(f"\nProfile of our runner, {sizes.calls:,} calls, top {top} by {key}:")
        print(out.getvalue().split("\n", 4)[-1].rstrip())  # skip the header lines naming the profile object


# memory ----------------------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident set now, in MB (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Samples the resident set on a thread while a run goes on, to tell a step from a steady climb."""

    def __init__(self, every: float = 0.1):
        self.every, self.samples, self.stop = every, [], threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.is_set():
            self.samples.append(rss_mb())
            self.stop.wait(self.every)

    def __enter__(self) -> "RssSampler":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()

    def second_half_growth(self) -> float:
        """How much higher the resident set peaked in the run's second half than in its first."""
        half = len(self.samples) // 2
        return max(self.samples[half:], default=0.0) - max(self.samples[:half], default=0.0)


def row_dict_bytes(ours: Ours, sample: int = 1_000) -> float:
    """Bytes one history row takes as a Python dict, measured on rows read back from the history."""
    frame = history.HistoryReader(ours.ws.settings.data_dir).rows(limit=sample)
    tracemalloc.start()
    rows = frame.to_dicts()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / max(len(rows), 1)


def memory_child(contender: str, base_url: str, calls: int, concurrency: int) -> None:
    """In a fresh process: a warm-up run, then the large run, through ours or bare; print peak RSS as JSON."""
    warm = max(calls // MEMORY_WARMUP_SHARE, 1)
    if contender == "bare":
        bare(base_url, warm, concurrency, pooled=True)
        before = peak_rss_mb()
        with RssSampler() as rss:
            outcome = bare(base_url, calls, concurrency, pooled=True)
        after, per_row = peak_rss_mb(), 0.0
    else:
        with tempfile.TemporaryDirectory(prefix="pv-bench-mem-") as tmp:
            ours = Ours(Path(tmp))
            cases = max(min(MEMORY_CASES, calls), math.ceil(calls / MAX_REPEATS))
            ours.run(base_url, warm // min(cases, warm) * min(cases, warm), concurrency, cases=min(cases, warm))
            before = peak_rss_mb()
            with RssSampler() as rss:
                outcome = ours.run(base_url, calls // cases * cases, concurrency, cases=cases)
            after, per_row = peak_rss_mb(), row_dict_bytes(ours)
            ours.close()
    print(json.dumps({"before_mb": before, "after_mb": after, "late_growth_mb": rss.second_half_growth(),
                      "row_bytes": per_row, **outcome.__dict__}))


def memory_run(calls: int, concurrency: int) -> dict[str, dict]:
    """The large run through ours, then bare, each in a fresh child process, against a zero-latency fake."""
    found = {}
    with FakeServer(latency=0.0) as server:
        for contender in ("ours", "bare"):
            child = subprocess.run([sys.executable, __file__, "--memory-child", contender, server.base_url, str(calls),
                                    str(concurrency)], capture_output=True, text=True, check=False)
            if child.returncode != 0:
                raise RuntimeError(f"the memory run of {contender} failed:\n{child.stderr[-3000:]}")
            found[contender] = json.loads(child.stdout.strip().splitlines()[-1])
            found[contender]["growth_mb"] = found[contender]["after_mb"] - found[contender]["before_mb"]
    return found


# report ----------------------------------------------------------------------------------------------------------


def print_table(scenarios: list[Scenario]) -> None:
    """One block of rows per scenario: wall, ratio, CPU per call, failures and retries."""
    header = ("scenario", "contender", "wall s", "vs ideal", "vs bare", "CPU ms/call", "ok", "failed", "retried")
    cells = [header]
    for s in scenarios:
        for side in ("ours", "bare"):
            wall = s.med(side, lambda o: o.wall)
            cells.append((s.name, side, f"{wall:.2f}", f"{wall / s.ideal:.3f}x", f"{s.vs_bare:.3f}x" if side == "ours" else "1x",
                          f"{s.med(side, lambda o: o.cpu / s.calls) * 1e3:.2f}",
                          f"{s.med(side, lambda o: o.done):,.0f}", f"{s.med(side, lambda o: o.failed):,.0f}",
                          f"{s.med(side, lambda o: o.retried):,.0f}"))
        cells.append((s.name, "ideal", f"{s.ideal:.2f}", "1x", "-", "-", "-", "-", "-"))
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for line in cells:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))


def targets(scenarios: list[Scenario], memory: dict, calls: int) -> list[tuple[str, bool]]:
    """Each target with whether it was met."""
    judged = []
    for s in scenarios:
        judged.append((f"{s.name}: ours/ideal {s.vs_ideal:.3f}x <= {IDEAL_TARGET:.2f}x", s.vs_ideal <= IDEAL_TARGET))
        judged.append((f"{s.name}: ours/bare {s.vs_bare:.3f}x <= {BARE_TARGET:.2f}x", s.vs_bare <= BARE_TARGET))
    late, base = memory["ours"]["late_growth_mb"], memory["bare"]["late_growth_mb"]
    held = memory["ours"]["row_bytes"] * calls / 2 / 2**20  # the rows of the second half
    judged.append((f"memory: RSS peaked {late:+.1f} MB higher in the run's 2nd half than in its 1st (bare litellm "
                   f"{base:+.1f} MB); {late - base:+.1f} MB <= {MEMORY_TARGET:.0%} of the {held:.0f} MB the 2nd half's "
                   f"rows take as dicts", late - base <= MEMORY_TARGET * held))
    return judged


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios and the memory run; print the table and the targets; 1 when one is missed on a full run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (targets still printed)")
    parser.add_argument("--repeats", type=int, help="timed runs per contender and scenario")
    parser.add_argument("--memory-calls", type=int, help="calls of the large zero-latency run")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one run of ours")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        contender, url, calls, concurrency = args.memory_child
        memory_child(contender, url, int(calls), int(concurrency))
        return 0
    sizes = QUICK if args.quick else FULL
    if args.repeats or args.memory_calls:
        sizes = replace(sizes, repeats=args.repeats or sizes.repeats, memory_calls=args.memory_calls or sizes.memory_calls)
    wall = time.perf_counter()
    print(f"PromptVault runner benchmark ({'quick: smoke sizes, not the target sizes' if args.quick else 'full'}): "
          f"{sizes.calls:,} calls at concurrency {sizes.concurrency}, latency {sizes.latency:g} s, "
          f"{sizes.repeats} run(s) each")
    with tempfile.TemporaryDirectory(prefix="pv-bench-") as tmp:
        ours = Ours(Path(tmp))
        try:
            print("[1/3] no errors")
            scenarios = [scenario("clean", ours, sizes)]
            print(f"[2/3] 5 % errors (429 with Retry-After {RETRY_AFTER:g} s, 500); ours retries, bare records them")
            scenarios.append(scenario("5% errors", ours, sizes, errors=ERRORS, retry_after=RETRY_AFTER))
            if args.profile:
                profile_ours(ours, sizes)
        finally:
            ours.close()
    print(f"[3/3] memory: {sizes.memory_calls:,} calls, latency 0, concurrency {sizes.memory_concurrency}, "
          "ours then bare litellm, each in a fresh process after a warm-up run of 1/20 of the calls")
    memory = memory_run(sizes.memory_calls, sizes.memory_concurrency)
    for contender, m in memory.items():
        calls = m["done"] + m["failed"]
        print(f"  {contender}: {calls:,} calls in {m['wall']:.1f} s ({calls / m['wall']:,.0f}/s, {m['cpu'] / calls * 1e3:.2f} "
              f"ms CPU/call); peak RSS {m['before_mb']:.0f} MB after the warm-up, {m['after_mb']:.0f} MB after "
              f"(+{m['growth_mb']:.1f} MB), of which {m['late_growth_mb']:+.1f} MB in the run's second half")
    calls = memory["ours"]["done"] + memory["ours"]["failed"]
    print(f"  a history row as a Python dict takes {memory['ours']['row_bytes']:.0f} B")
    wall = time.perf_counter() - wall
    print(f"\nSummary (medians; ratios in wall time; CPU is this process's per call; took {wall:.0f} s wall)")
    print_table(scenarios)
    print("\nTargets")
    judged = targets(scenarios, memory, calls)
    for label, ok in judged:
        print(f"  {'PASS' if ok else 'MISS'}  {label}")
    return 1 if not args.quick and not all(ok for _, ok in judged) else 0


if __name__ == "__main__":
    sys.exit(main())
