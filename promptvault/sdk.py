"""`get_prompt` for application code: fetch a version by label or number, then `.render(**vars)`."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from promptvault import templates
from promptvault.config import Settings, load_settings
from promptvault.content import Content
from promptvault.errors import ValidationError

DEFAULT_LABEL = "production"
DEFAULT_TTL_SECONDS = 60.0

_cache: dict[tuple, tuple[float, "PromptVersion"]] = {}
_workspaces: dict[Settings, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class PromptVersion:
    """An immutable prompt version fetched for use in code."""

    name: str
    version: int
    content: Content
    config: dict[str, Any]
    variables: list[str]

    def render(self, **variables: Any) -> Content:
        """Fill the template (text, or a list of chat messages) with variables."""
        return templates.render(self.content, variables)


def get_prompt(
    name: str,
    label: str | None = None,
    version: int | None = None,
    project: str = "default",
    cache_ttl: float = DEFAULT_TTL_SECONDS,
) -> PromptVersion:
    """A prompt by label (default `production`) or version, as PROMPTVAULT_USER or else the first admin, cached `cache_ttl` s."""
    if label is not None and version is not None:
        raise ValidationError("give either label= or version=, not both")
    ref = str(version) if version is not None else (label or DEFAULT_LABEL)
    settings = load_settings()
    user = os.environ.get("PROMPTVAULT_USER") or None
    key = (settings, user, project, name, ref)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached and (version is not None or now - cached[0] < cache_ttl):  # numbered versions never change
        return cached[1]
    fetched = _fetch(settings, user, project, name, ref)
    with _lock:
        _cache[key] = (now, fetched)
    return fetched


def clear_cache() -> None:
    """Forget every cached prompt (the next get_prompt reads the store)."""
    with _lock:
        _cache.clear()


def _fetch(settings: Settings, user: str | None, project: str, name: str, ref: str) -> PromptVersion:
    """Read one version from the store as the user (None: the first admin, or the local user before setup)."""
    from promptvault import versioning
    from promptvault.workspace import open_workspace

    with _lock:
        workspace = _workspaces.get(settings)
        if workspace is None:
            workspace = _workspaces[settings] = open_workspace(settings)
    ctx = workspace.context_for(user, project) if user else workspace.local_context(project)
    info = versioning.show(ctx, name, ref)
    return PromptVersion(name=name, version=info.number, content=info.content, config=info.config, variables=info.variables)
