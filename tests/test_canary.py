"""One canary key through every path that touches keys; its plaintext must appear nowhere we write or show."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from promptvault import audit, vault
from promptvault.cli import main
from promptvault.config import load_settings
from promptvault.errors import PromptVaultError
from promptvault.workspace import open_workspace

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


def test_canary_key_never_appears_in_plaintext(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PROMPTVAULT_DATA_DIR", str(tmp_path / "data"))
    for name in ("PROMPTVAULT_DATABASE_URL", "PROMPTVAULT_MASTER_KEY", "PROMPTVAULT_USER"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)
    canary = "sk-canary-" + secrets.token_hex(16)
    runner, seen = CliRunner(), []

    def cli(*args, input=None):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        seen.append(result.output)
        return result

    cli("users", "add", "admin@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert cli("keys", "add", "openai", "--team", "Default", "--label", "prod", input=canary + "\n").exit_code == 0
    ws = open_workspace(load_settings())
    ctx = ws.context_for("admin@example.com")
    with vault.use_key(ctx, 1, "test:canary") as plaintext:
        assert plaintext == canary  # the one place it may be: inside the provider call
    try:  # an error raised inside the call is scrubbed of the key
        with vault.use_key(ctx, 1, "test:error") as plaintext:
            raise RuntimeError(f"provider said: bad key {plaintext}")
    except PromptVaultError as exc:
        seen.append(repr(exc) + str(exc.__cause__) + str(exc.__context__))
    seen.append(audit.export_csv(ctx, 1))
    seen += [cli(*args).output for args in (("keys", "list", "--json"), ("audit", "list", "--team", "Default", "--json"))]

    page = AppTest.from_file(str(ROOT / "pages" / "keys.py"), default_timeout=30)
    page.session_state["pv.user"] = {"id": ctx.actor.user_id, "email": ctx.actor.email}
    page.run()
    assert not page.exception
    seen += [str(element.proto) for element in page.main] + [repr(page.session_state[k]) for k in page.session_state]
    seen += [record.getMessage() for record in caplog.records]
    ws.db.dispose()
    files = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())

    assert canary[-4:] in "".join(seen)  # the last four are shown, as designed
    assert canary.encode() not in files
    assert [text for text in seen if canary in text] == []
