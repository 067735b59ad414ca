"""Installation commands: init, serve, db upgrade."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from promptvault.cli.output import echo_json
from promptvault.config import load_settings
from promptvault.errors import ConfigurationError

APP_FILE = Path(__file__).resolve().parents[2] / "app.py"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init(as_json: bool) -> None:
    """Create the data folder, the master-key file (mode 0600) and the database schema."""
    from promptvault.workspace import open_workspace

    settings = load_settings()
    ws = open_workspace(settings)
    result = {
        "data_dir": str(settings.data_dir),
        "database": ws.db.engine.url.render_as_string(hide_password=True),
        "master_key": "PROMPTVAULT_MASTER_KEY" if settings.master_key else str(settings.master_key_file),
    }
    if as_json:
        echo_json(result)
    else:
        click.echo(f"PromptVault is ready in {result['data_dir']}\n  database:   {result['database']}\n  master key: {result['master_key']}")


@click.command()
@click.option("--port", type=int, default=8501, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def serve(port: int, host: str) -> None:
    """Start the web app (Streamlit) on this machine."""
    from promptvault.workspace import open_workspace

    if not APP_FILE.exists():
        raise ConfigurationError(f"the web app is not installed next to the package (looked for {APP_FILE})")
    open_workspace(load_settings())  # create or migrate before the first page loads
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_FILE),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
    ]
    os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    os.chdir(APP_FILE.parent)
    os.execv(sys.executable, command)  # become the server, so a signal to `serve` reaches Streamlit


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def db_upgrade(as_json: bool) -> None:
    """Apply pending schema migrations (safe to run again)."""
    from promptvault.store import Database, upgrade
    from promptvault.store.migrate import current_revision

    database = Database(load_settings().database_url)
    load_settings().data_dir.mkdir(parents=True, exist_ok=True)
    before = current_revision(database.engine)
    upgrade(database.engine)
    after = current_revision(database.engine)
    if as_json:
        echo_json({"from": before, "to": after})
    else:
        click.echo(f"schema at {after}" + ("" if before == after else f" (was {before or 'empty'})"))
