"""Cost of one audited key decryption (`vault.use_key`) against its parts, on SQLite and optionally PostgreSQL.

Run: .venv/bin/python benchmarks/vault.py [--quick] [--postgres URL]
Baselines measured in the same run: AES-256-GCM unwrap + decrypt alone, and one audit append alone.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text  # noqa: E402

from promptvault import audit, vault  # noqa: E402
from promptvault.config import Settings  # noqa: E402
from promptvault.store import Database  # noqa: E402
from promptvault.store.tables import Project  # noqa: E402
from promptvault.workspace import open_workspace  # noqa: E402


def median_ms(samples: list[float]) -> float:
    """Median of seconds, in milliseconds."""
    return statistics.median(samples) * 1000


def timed(call, runs: int) -> list[float]:
    """Wall time of each of `runs` calls."""
    samples = []
    for index in range(runs):
        start = time.perf_counter()
        call(index)
        samples.append(time.perf_counter() - start)
    return samples


def measure(database_url: str | None, runs: int) -> dict[str, float]:
    """Medians (ms) of use_key, decrypt alone and audit append alone on one store."""
    folder = Path(tempfile.mkdtemp()) / "data"
    url = database_url or f"sqlite:///{folder / 'promptvault.db'}"
    if database_url:  # start from an empty schema: its keys were wrapped by another run's master key
        _drop_all(database_url)
    ws = open_workspace(Settings(data_dir=folder, database_url=url, master_key=None))
    ctx = ws.local_context()
    with ctx.db.read() as session:
        team = session.scalar(select(Project.team_id).where(Project.id == ctx.project_id))
    key = vault.add_key(ctx, team, "openai", "sk-bench-" + secrets.token_hex(20))

    def use(i):
        with vault.use_key(ctx, key.id, f"bench:{i}"):
            pass

    def decrypt_only(i):
        with ctx.db.read() as session:
            stored = session.get(vault.ProviderKey, key.id)
            vault._open(ctx.keyring, stored, vault._data_key_row(session, stored.team_id))

    def append_only(i):
        with ctx.db.write() as session:
            audit.append(session, ctx.keyring, action="bench.append", actor=ctx.actor, team_id=team, details={"i": i})

    for call in (use, decrypt_only, append_only):  # warm up
        timed(call, 10)
    result = {"use_key": median_ms(timed(use, runs)), "decrypt (read + unwrap + open)": median_ms(timed(decrypt_only, runs)),
              "audit append (own transaction)": median_ms(timed(append_only, runs))}
    ws.db.dispose()
    return result


def _drop_all(url: str) -> None:
    """Drop every table of the (scratch) PostgreSQL database so the run migrates a fresh schema."""
    engine = Database(url).engine
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Print the medians per store and the share of use_key the audit write takes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 calls instead of 200")
    parser.add_argument("--postgres", help="URL of a scratch PostgreSQL database to measure as well (it is wiped)")
    args = parser.parse_args(argv)
    runs = 20 if args.quick else 200
    stores = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    print(f"vault benchmark: medians of {runs} calls")
    print(f"{'store':<11} {'measure':<32} {'ms':>8} {'ratio to decrypt':>17}")
    for name, url in stores:
        figures = measure(url, runs)
        base = figures["decrypt (read + unwrap + open)"]
        for label, value in figures.items():
            print(f"{name:<11} {label:<32} {value:8.2f} {value / base:16.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
