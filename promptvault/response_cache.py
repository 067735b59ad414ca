"""The response cache: a model's answer to the exact same messages and params, kept per team in the store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite

from promptvault.store import Database
from promptvault.store.tables import CachedResponse


@dataclass(frozen=True)
class CachedAnswer:
    """What a cache hit gives back."""

    key: str
    model: str
    output: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int


def cache_key(team_id: int, model_label: str, messages: list[dict], params: dict) -> str:
    """sha256 over the team, the model (with its base URL), the rendered messages and the params."""
    payload = json.dumps([team_id, model_label, messages, params], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def lookup(db: Database, key: str) -> CachedAnswer | None:
    """The cached answer for a key, or None."""
    with db.read() as session:
        row = session.get(CachedResponse, key)
        if row is None:
            return None
        return CachedAnswer(row.key, row.model, row.output, row.finish_reason, row.input_tokens, row.output_tokens)


def store(db: Database, team_id: int, answers: Iterable[CachedAnswer]) -> int:
    """Keep answers (the first answer for a key wins); returns how many were offered."""
    values = [{"key": a.key, "team_id": team_id, "model": a.model, "output": a.output,
               "finish_reason": a.finish_reason, "input_tokens": a.input_tokens, "output_tokens": a.output_tokens}
              for a in answers]
    if not values:
        return 0
    with db.write() as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(CachedResponse).values(values).on_conflict_do_nothing(index_elements=["key"]))
    return len(values)
