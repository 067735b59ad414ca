"""Settings from `PROMPTVAULT_*` environment variables, each with a default that works on a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "PROMPTVAULT_"


@dataclass(frozen=True)
class Settings:
    """Where PromptVault keeps its data and how it reaches its database."""

    data_dir: Path
    database_url: str
    master_key: str | None

    @property
    def master_key_file(self) -> Path:
        """The key file `init` creates when no master key is given in the environment."""
        return self.data_dir / "master.key"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (or the given mapping)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get(f"{ENV_PREFIX}DATA_DIR") or "data").expanduser().resolve()
    database_url = env.get(f"{ENV_PREFIX}DATABASE_URL") or f"sqlite:///{data_dir / 'promptvault.db'}"
    return Settings(data_dir=data_dir, database_url=database_url, master_key=env.get(f"{ENV_PREFIX}MASTER_KEY"))
