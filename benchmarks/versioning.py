"""Benchmarks of commit, log, diff and library search on SQLite, each beside a bare baseline timed in the same run.

Usage: .venv/bin/python benchmarks/versioning.py [--quick]

Times are medians of runs that alternate ours and bare, so the machine's noise falls on both alike. The ratio is
ours / bare in time (for commits/s, bare rate / our rate): how many times the bare cost the service pays.
Exit status 1 when a target FAILs on a full run; `--quick` shrinks every size for a smoke run and exits 0.
"""

import argparse
import hashlib
import html
import json
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from any folder

import diff_match_patch  # noqa: E402
import fast_diff_match_patch  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from promptvault import diff_render, diffing, library, versioning  # noqa: E402
from promptvault.config import Settings  # noqa: E402
from promptvault.content import content_as_text, content_hash, normalize_tags  # noqa: E402
from promptvault.context import Context  # noqa: E402
from promptvault.store.tables import Prompt, PromptTag, Ref, RefMove, Version, utcnow  # noqa: E402
from promptvault.templates import extract_variables  # noqa: E402
from promptvault.workspace import Workspace, open_workspace  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How big each measure is."""

    versions: int  # commits timed, and the length of the history `log` walks
    prompts: int  # library size for search
    diff_chars: int
    timeout: float  # diff timeout for the unrelated pair
    runs: int  # timed runs per fast measure
    slow_runs: int  # timed runs per diff that hits its timeout
    seed_budget: float  # seconds seeding through the services may take before bulk inserts take over


FULL = Sizes(versions=1_000, prompts=10_000, diff_chars=100_000, timeout=1.0, runs=21, slow_runs=3, seed_budget=60.0)
# The quick budget is tiny on purpose: the smoke run takes (and checks) the bulk path the full run takes.
QUICK = Sizes(versions=100, prompts=1_000, diff_chars=20_000, timeout=0.2, runs=5, slow_runs=1, seed_budget=1.0)
TARGET_MS = 100.0
DIFF_SLACK_S = 0.1  # past a diff's timeout: converting the ops and the semantic cleanup still run
SEED_SAMPLE = 40  # prompts seeded through the services, to time them and to check the bulk rows against
COMMIT_BLOCK = 50  # commits in a row per contender before the next takes over
BENCH = "history"
# Generated words hold none of x, y, z, q, so each term below matches exactly the prompts it is planted in.
CONSONANTS, VOWELS = "bdfgklmnprstv", "aeiou"
RARE, COMMON = "zyqsworth", "xylophone"
TAGS = ["support", "sales", "legal", "ops", "marketing", "hr", "research", "eval"]
TEMPLATE_LINE = "\n\nInput: {{ input }}"


@dataclass
class Row:
    """One line of the summary table."""

    measure: str
    ours: float
    bare: float
    unit: str  # "ms", "s", or "/s" for a rate
    target: str = "-"
    ok: bool | None = None  # None: informational

    @property
    def ratio(self) -> float:
        """Our cost as a multiple of the bare cost."""
        return self.bare / self.ours if self.unit == "/s" else self.ours / self.bare


@dataclass(frozen=True)
class Spec:
    """One seeded prompt: what create_prompt and the first commit are given."""

    name: str
    description: str
    tags: list[str]
    prose: str  # plain text, free of Jinja syntax
    message: str

    @property
    def content(self) -> str:
        """The committed text: the prose, then the template line."""
        return self.prose + TEMPLATE_LINE


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clocked(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call; warns when the system clock stepped meanwhile."""
    wall, cpu, offset = time.perf_counter(), time.process_time(), time.time() - time.monotonic()
    fn()
    step = time.time() - time.monotonic() - offset
    if abs(step) > 0.5:  # pure diff_match_patch times out on time.time(): a step back delays its deadline
        print(f"  WARNING: the system clock stepped {step:+.1f} s during this call")
    return time.perf_counter() - wall, time.process_time() - cpu


def paired(ours: Callable[[], object], bare: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall seconds of two callables run alternately, after one warm-up each."""
    ours(), bare()
    pairs = [(timed(ours), timed(bare)) for _ in range(runs)]
    return median(p[0] for p in pairs), median(p[1] for p in pairs)


def vocabulary(rng: random.Random, size: int = 3_000) -> list[str]:
    """Pronounceable random words."""
    return ["".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(1, 4))) for _ in range(size)]


def random_text(rng: random.Random, words: list[str], chars: int) -> str:
    """Lines of 6-14 random words, cut to `chars` characters."""
    lines, total = [], 0
    while total < chars:
        lines.append(" ".join(rng.choices(words, k=rng.randint(6, 14))))
        total += len(lines[-1]) + 1
    return "\n".join(lines)[:chars]


def edit_words(rng: random.Random, words: list[str], text: str, fraction: float) -> tuple[str, int]:
    """Replace words scattered over the text until about `fraction` of its characters changed; (text, edits)."""
    tokens = re.split(r"(\s+)", text)  # words at even positions
    positions = list(range(0, len(tokens), 2))
    rng.shuffle(positions)
    changed = edits = 0
    for i in positions:
        if changed >= fraction * len(text):
            break
        new = rng.choice(words)
        if new != tokens[i]:
            changed, edits, tokens[i] = changed + max(len(new), len(tokens[i])), edits + 1, new
    return "".join(tokens), edits


# 1. commits ---------------------------------------------------------------------------------------------------


class BareCommits:
    """Raw sqlite3 commits on a copy of the store: a version INSERT and a ref UPDATE per transaction."""

    def __init__(self, path: Path, full: bool):
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.prompt, self.author = self.conn.execute("SELECT id, owner_id FROM prompts WHERE name = ?", (BENCH,)).fetchone()
        self.ref, self.head, self.number = self.conn.execute(
            "SELECT r.id, v.id, v.number FROM refs r JOIN versions v ON v.id = r.version_id WHERE r.prompt_id = ?",
            (self.prompt,),
        ).fetchone()
        self.full = full  # also the ref_moves INSERT and the prompts UPDATE that a real commit writes

    def commit(self, content: str, message: str) -> None:
        """One commit as bare SQL."""
        now, c = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds"), self.conn
        c.execute("BEGIN IMMEDIATE")
        vid = c.execute(
            "INSERT INTO versions (prompt_id, number, parent_id, content, config, variables, content_hash, message,"
            " author_id, created_at) VALUES (?, ?, ?, ?, '{}', '[\"ticket\"]', ?, ?, ?, ?)",
            (self.prompt, self.number + 1, self.head, json.dumps(content), hashlib.sha256(content.encode()).hexdigest(),
             message, self.author, now),
        ).lastrowid
        c.execute("UPDATE refs SET version_id = ?, updated_at = ? WHERE id = ? AND version_id = ?",
                  (vid, now, self.ref, self.head))
        if self.full:
            c.execute("INSERT INTO ref_moves (prompt_id, ref_name, kind, from_version_id, to_version_id, reason, actor_id, at)"
                      " VALUES (?, 'main', 'branch', ?, ?, 'commit', ?, ?)", (self.prompt, self.head, vid, self.author, now))
            c.execute("UPDATE prompts SET search_text = ?, updated_at = ? WHERE id = ?", (content.lower(), now, self.prompt))
        c.execute("COMMIT")
        self.number, self.head = self.number + 1, vid


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite store, WAL included."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def bench_commits(ctx: Context, db_path: Path, sizes: Sizes) -> list[Row]:
    """Commit throughput through versioning.commit, alternating blocks with two bare baselines."""
    body = "You are a support agent. Answer the ticket below politely and briefly.\n" * 6 + "Ticket: {{ ticket }}\n"
    contents = [f"{body}Revision {n}: keep answers under {n % 97 + 50} words." for n in range(sizes.versions)]
    library.create_prompt(ctx, BENCH, description="Commit and log benchmark", tags=["bench"])
    versioning.commit(ctx, BENCH, contents[0], message="edit 0")
    bares = []
    for full in (False, True):
        copy_store(db_path, db_path.with_name(f"bare-{full}.db"))
        bares.append(BareCommits(db_path.with_name(f"bare-{full}.db"), full))
    contenders = [lambda n: versioning.commit(ctx, BENCH, contents[n], message=f"edit {n}")]
    contenders += [lambda n, b=b: b.commit(contents[n], f"edit {n}") for b in bares]
    times: list[list[float]] = [[] for _ in contenders]
    for start in range(1, sizes.versions, COMMIT_BLOCK):
        for commit, spent in zip(contenders, times):
            spent += [timed(lambda n=n: commit(n)) for n in range(start, min(start + COMMIT_BLOCK, sizes.versions))]
    ours, bare, bare_full = (1 / median(t) for t in times)
    print(f"  {len(times[0])} commits each; mean rate ours {len(times[0]) / sum(times[0]):.0f}/s, "
          f"bare {len(times[1]) / sum(times[1]):.0f}/s, bare with all 4 writes {len(times[2]) / sum(times[2]):.0f}/s")
    return [
        Row("commit, commits/s (bare: version+ref)", ours, bare, "/s"),
        Row("commit, commits/s (bare: +ref_move+prompt)", ours, bare_full, "/s"),
    ]


# 2. log -------------------------------------------------------------------------------------------------------

RAW_LOG = ("SELECT v.id, v.number, v.message, v.created_at, v.content_hash, u.email FROM versions v"
           " JOIN users u ON u.id = v.author_id WHERE v.prompt_id = ? ORDER BY v.number DESC")


def bench_log(ctx: Context, raw: sqlite3.Connection, sizes: Sizes) -> Row:
    """versioning.log of the benchmark prompt vs one raw SELECT of the same columns."""
    prompt_id = raw.execute("SELECT id FROM prompts WHERE name = ?", (BENCH,)).fetchone()[0]
    ours, bare = (lambda: versioning.log(ctx, BENCH)), (lambda: raw.execute(RAW_LOG, (prompt_id,)).fetchall())
    if not len(ours()) == len(bare()) == sizes.versions:
        raise AssertionError("log and the raw SELECT disagree on the number of versions")
    return ms_row(f"log, {sizes.versions:,} versions", paired(ours, bare, sizes.runs))


# 3. diff ------------------------------------------------------------------------------------------------------


def as_version(text: str) -> dict:
    """A version-like dict with only content."""
    return {"content": text, "config": {}, "variables": []}


def fast_alone(a: str, b: str, timeout: float) -> list:
    """The C++ engine called as diffing calls it."""
    return fast_diff_match_patch.diff(a, b, timelimit=timeout, cleanup="Semantic", counts_only=False)


def pure_alone(a: str, b: str, timeout: float) -> list:
    """The pure-Python engine called as diffing calls it."""
    dmp = diff_match_patch.diff_match_patch()
    dmp.Diff_Timeout = timeout
    ops = dmp.diff_main(a, b)
    dmp.diff_cleanupSemantic(ops)
    return ops


def escaped_rows(a: str, b: str) -> str:
    """The least any HTML diff does: every line of both texts escaped into a table row."""
    return "".join(f"<tr><td>{html.escape(line)}</td></tr>" for text in (a, b) for line in text.splitlines())


@contextmanager
def pure_engine():
    """Make diffing use its pure-Python fallback, as where the C++ wheel is missing."""
    saved, diffing.fast_diff_match_patch = diffing.fast_diff_match_patch, None
    try:
        yield
    finally:
        diffing.fast_diff_match_patch = saved


def bench_diff(sizes: Sizes) -> list[Row]:
    """A 2 %-edited pair (diff and renders) and an unrelated pair that must stop at the timeout."""
    rng = random.Random(7)
    words = vocabulary(rng)
    old = random_text(rng, words, sizes.diff_chars)
    new, edits = edit_words(rng, words, old, 0.02)
    other = random_text(random.Random(8), words, sizes.diff_chars)
    kb, ours = f"{sizes.diff_chars // 1000} KB", (lambda: diffing.diff_versions(as_version(old), as_version(new)))
    diff = ours()
    print(f"  {kb} pair: {edits} words replaced, {diff.stats.chars_inserted:,} chars inserted, "
          f"{diff.stats.chars_deleted:,} deleted; engine in use: {'fast' if diffing.fast_diff_match_patch else 'pure'}")
    rows = [ms_row(f"diff {kb} 2%, fast", paired(ours, lambda: fast_alone(old, new, 1.0), sizes.runs))]
    with pure_engine():  # the 100 ms target is for the engine in use; this row is for reference
        rows.append(ms_row(f"diff {kb} 2%, pure fallback", paired(ours, lambda: pure_alone(old, new, 1.0), sizes.runs), False))
    for name, render in (("inline", diff_render.render_inline_html), ("side-by-side", diff_render.render_side_by_side_html)):
        seconds = paired(lambda: render(diff), lambda: escaped_rows(old, new), sizes.runs)
        rows.append(ms_row(f"render {name} HTML (bare: escape)", seconds, False))
    rows.append(_unrelated(f"unrelated {kb}, fast", old, other, fast_alone, sizes))
    with pure_engine():
        rows.append(_unrelated(f"unrelated {kb}, pure fallback", old, other, pure_alone, sizes))
    return rows


def ms_row(measure: str, seconds: tuple[float, float], targeted: bool = True) -> Row:
    """A row in milliseconds from (ours, bare) seconds, judged against TARGET_MS unless informational."""
    ours, bare = seconds[0] * 1e3, seconds[1] * 1e3
    if not targeted:
        return Row(measure, ours, bare, "ms")
    return Row(measure, ours, bare, "ms", f"<{TARGET_MS:.0f} ms", ours < TARGET_MS)


def _unrelated(measure: str, a: str, b: str, alone: Callable[[str, str, float], list], sizes: Sizes) -> Row:
    """Two unrelated texts: every run of diff_versions must end within its timeout plus a small slack."""
    ours, bare = [], []
    for _ in range(sizes.slow_runs):
        ours.append(clocked(lambda: diffing.diff_versions(as_version(a), as_version(b), timeout=sizes.timeout)))
        bare.append(clocked(lambda: alone(a, b, sizes.timeout)))
    (wall, cpu), (bare_wall, bare_cpu) = (tuple(map(max, zip(*runs))) for runs in (ours, bare))
    bound = sizes.timeout + DIFF_SLACK_S
    print(f"  {measure}, timeout {sizes.timeout:g} s, worst of {sizes.slow_runs}: ours {wall:.2f} s wall / {cpu:.2f} s CPU, "
          f"library alone {bare_wall:.2f} s wall / {bare_cpu:.2f} s CPU")
    # Judged on CPU: the C++ engine's limit is clock(), process CPU time, so on a busy machine its wall time
    # stretches with the load; the pure engine's limit is wall time, so its CPU stays under it. An unbounded
    # diff breaks both (a full diff of the 100 KB pair takes far longer than the timeout).
    return Row(f"{measure}, CPU (worst of {sizes.slow_runs})", cpu, bare_cpu, "s", f"<={bound:g} s", cpu <= bound)


# 4. search ----------------------------------------------------------------------------------------------------

RAW_SEARCH = ("SELECT id, name, description, owner_id, archived, created_at, updated_at FROM prompts"
              " WHERE project_id = ? AND archived = 0 AND search_text LIKE ? ESCAPE '\\'"
              " ORDER BY updated_at DESC, id DESC LIMIT ?")
LIMIT = library.DEFAULT_LIST_LIMIT
TABLES = [t.__table__ for t in (Prompt, PromptTag, Version, Ref, RefMove)]
# Columns the services decide; ids of refs and moves and clocks differ between any two runs.
COMPARED = {
    "prompts": ("project_id", "name", "description", "owner_id", "archived", "search_text"),
    "prompt_tags": ("tag",),
    "versions": ("id", "number", "parent_id", "merge_parent_id", "content", "config", "variables", "content_hash",
                 "message", "author_id"),
    "refs": ("name", "kind", "version_id", "protected"),
    "ref_moves": ("ref_name", "kind", "from_version_id", "to_version_id", "reason", "actor_id"),
}


def make_specs(count: int) -> list[Spec]:
    """Prompts of ~500 chars with 1-3 tags; RARE is planted in 10 of them, COMMON in every other one."""
    rng = random.Random(11)
    words = vocabulary(rng)
    specs = []
    for i in range(count):
        planted = (f" {RARE}" if i % (count // 10) == 5 else "") + (f" {COMMON}" if i % 2 == 0 else "")
        prose = random_text(rng, words, 480) + planted
        description = " ".join(rng.choices(words, k=6)).capitalize()
        specs.append(Spec(f"bench-{i:05d}", description, rng.sample(TAGS, rng.randint(1, 3)), prose, "first draft"))
    return specs


def bulk_rows(ctx: Context, specs: list[Spec], prompt_id: int, version_id: int) -> dict[str, list[dict]]:
    """The rows create_prompt and a first commit write for each spec, numbered from the given ids."""
    rows: dict[str, list[dict]] = {t.name: [] for t in TABLES}
    # Parsing 10,000 templates would be most of the seeding time; the prose holds no "{", so the template line
    # alone decides the variables (check_bulk_matches_services compares them with what commit extracted).
    user, start, variables = ctx.actor.user_id, utcnow(), extract_variables(TEMPLATE_LINE)
    for offset, s in enumerate(specs):
        pid, vid, at = prompt_id + offset, version_id + offset, start + timedelta(microseconds=offset)
        tags = normalize_tags(s.tags)
        if "{" in s.prose:
            raise ValueError(f"{s.name}: seeded prose must hold no Jinja syntax")
        search_text = "\n".join([s.name, s.description, " ".join(tags), content_as_text(s.content)]).lower()
        rows["prompts"].append(dict(id=pid, project_id=ctx.project_id, name=s.name, description=s.description, owner_id=user,
                                    archived=False, search_text=search_text, created_at=at, updated_at=at))
        rows["prompt_tags"] += [dict(prompt_id=pid, tag=tag) for tag in tags]
        rows["versions"].append(dict(id=vid, prompt_id=pid, number=1, parent_id=None, merge_parent_id=None, content=s.content,
                                     config={}, variables=list(variables), content_hash=content_hash(s.content, {}),
                                     message=s.message, author_id=user, created_at=at))
        rows["refs"].append(dict(prompt_id=pid, name="main", kind="branch", version_id=vid, protected=False, updated_at=at))
        rows["ref_moves"].append(dict(prompt_id=pid, ref_name="main", kind="branch", from_version_id=None, to_version_id=vid,
                                      reason="commit", actor_id=user, at=at))
    return rows


def check_bulk_matches_services(ws: Workspace, ctx: Context, sample: list[Spec]) -> None:
    """Refuse to bulk-seed unless the bulk rows equal what the services wrote for the sample."""
    with ws.db.engine.connect() as conn:
        for spec in sample:
            pid = conn.scalar(select(Prompt.id).where(Prompt.project_id == ctx.project_id, Prompt.name == spec.name))
            built = bulk_rows(ctx, [spec], pid, conn.scalar(select(Version.id).where(Version.prompt_id == pid)))
            for table in TABLES:
                columns, key = COMPARED[table.name], table.c.id if table.name == "prompts" else table.c.prompt_id
                stored = [tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)).where(key == pid))]
                expected = [tuple(r[c] for c in columns) for r in built[table.name]]
                if sorted(stored, key=repr) != sorted(expected, key=repr):
                    raise AssertionError(f"bulk {table.name} rows differ from the services' for {spec.name}")


def bulk_insert(ws: Workspace, ctx: Context, specs: list[Spec]) -> None:
    """Insert the specs' rows in one transaction, ids following the highest ones."""
    with ws.db.engine.begin() as conn:
        first_prompt, first_version = (conn.scalar(select(func.max(c))) + 1 for c in (Prompt.id, Version.id))
        rows = bulk_rows(ctx, specs, first_prompt, first_version)
        for table in TABLES:  # parents first, so the foreign keys hold row by row
            conn.execute(insert(table), rows[table.name])


def seed(ws: Workspace, ctx: Context, specs: list[Spec], budget: float) -> str:
    """Seed through the services, or, past the time budget, through bulk inserts of the same rows."""
    def through_services(batch: list[Spec]) -> None:
        for s in batch:
            library.create_prompt(ctx, s.name, s.description, s.tags)
            versioning.commit(ctx, s.name, s.content, message=s.message)

    per_prompt = timed(lambda: through_services(specs[:SEED_SAMPLE])) / SEED_SAMPLE
    projected = per_prompt * len(specs)
    if projected <= budget:
        spent = timed(lambda: through_services(specs[SEED_SAMPLE:]))
        return f"seeded all {len(specs):,} prompts through the services ({spent + per_prompt * SEED_SAMPLE:.1f} s)"
    check_bulk_matches_services(ws, ctx, specs[:SEED_SAMPLE])
    spent = timed(lambda: bulk_insert(ws, ctx, specs[SEED_SAMPLE:]))
    return (f"services would take ~{projected:.0f} s ({per_prompt * 1e3:.1f} ms/prompt) > {budget:g} s budget: "
            f"{SEED_SAMPLE} prompts seeded through the services, {len(specs) - SEED_SAMPLE:,} through bulk SQL inserts "
            f"of the same rows ({spent:.1f} s), checked equal to the services' rows on the {SEED_SAMPLE}")


def bench_search(ws: Workspace, ctx: Context, raw: sqlite3.Connection, sizes: Sizes) -> list[Row]:
    """library.list_prompts(search=...) for a rare and a common term vs one raw LIKE query."""
    print("  " + seed(ws, ctx, make_specs(sizes.prompts), sizes.seed_budget))
    rows = []
    for term in (RARE, COMMON):
        ours = lambda: library.list_prompts(ctx, search=term)  # noqa: E731
        bare = lambda: raw.execute(RAW_SEARCH, (ctx.project_id, f"%{term}%", LIMIT)).fetchall()  # noqa: E731
        if [p.id for p in ours()] != [r[0] for r in bare()]:
            raise AssertionError(f"list_prompts and the raw LIKE disagree for '{term}'")
        matches = raw.execute("SELECT count(*) FROM prompts WHERE project_id = ? AND archived = 0 AND search_text LIKE ?",
                              (ctx.project_id, f"%{term}%")).fetchone()[0]
        shown = f", {LIMIT} listed" if matches > LIMIT else ""
        rows.append(ms_row(f"search, {matches:,} of {sizes.prompts:,} match{shown}", paired(ours, bare, sizes.runs)))
    return rows


# report -------------------------------------------------------------------------------------------------------


def fmt(value: float, unit: str) -> str:
    """A value with its unit, to a sensible precision."""
    return f"{value:,.0f}/s" if unit == "/s" else f"{value:.2f} s" if unit == "s" else f"{value:.1f} ms"


def print_table(rows: list[Row]) -> None:
    """The summary: measure, ours, baseline, ratio, target, result."""
    header = ("measure", "ours", "bare", "ratio", "target", "result")
    cells = [header] + [(r.measure, fmt(r.ours, r.unit), fmt(r.bare, r.unit), f"{r.ratio:.1f}x", r.target,
                         {True: "PASS", False: "FAIL", None: "info"}[r.ok]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for line in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))


def run(folder: Path, sizes: Sizes) -> list[Row]:
    """Every measure on one fresh SQLite workspace in `folder`."""
    db_path = folder / "data" / "promptvault.db"
    ws = open_workspace(Settings(data_dir=folder / "data", database_url=f"sqlite:///{db_path}", master_key=None))
    try:
        ctx = ws.local_context()
        with closing(sqlite3.connect(db_path)) as raw:
            print(f"[1/4] commit throughput ({sizes.versions:,} commits)")
            rows = bench_commits(ctx, db_path, sizes)
            print(f"[2/4] log of {sizes.versions:,} versions")
            rows.append(bench_log(ctx, raw, sizes))
            print("[3/4] diff")
            rows += bench_diff(sizes)
            print(f"[4/4] library search over {sizes.prompts:,} prompts")
            rows += bench_search(ws, ctx, raw, sizes)
        return rows
    finally:
        ws.db.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run every measure, print the table; 1 when a target fails on a full run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (targets still printed)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    wall, cpu = time.perf_counter(), time.process_time()
    print(f"PromptVault versioning benchmark ({'quick: smoke sizes, not the target sizes' if args.quick else 'full'}), SQLite")
    with tempfile.TemporaryDirectory(prefix="pv-bench-") as tmp:
        rows = run(Path(tmp), sizes)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\nSummary (medians; ratio = ours / bare in time; run took {wall:.0f} s wall, "
          f"this process got {cpu / wall:.0%} of a core)")
    print_table(rows)
    return 1 if not args.quick and any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
