"""The Streamlit UI's shared pieces: session wiring, error display and components (never imported by the core)."""

import re
from datetime import datetime, timezone

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """Text escaped for Streamlit markdown, so user-written names show as typed and never as links or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def utc_text(moment: datetime) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS` in UTC (SQLite hands back naive UTC, PostgreSQL aware values)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
