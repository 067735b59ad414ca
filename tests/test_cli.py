"""The CLI on a fresh data folder: every prompt command, --json output, one-line errors."""

from __future__ import annotations

import json
import re
import stat

import pytest



def test_init_creates_database_and_private_key_file(cli, tmp_path):
    code, out, _ = cli("init", "--json")
    assert code == 0
    info = json.loads(out)
    key_file = tmp_path / "data" / "master.key"
    assert info["master_key"] == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (tmp_path / "data" / "promptvault.db").exists()
    assert cli("init")[0] == 0  # idempotent


def test_db_upgrade_is_idempotent(cli):
    assert cli("db", "upgrade")[0] == 0
    code, out, _ = cli("db", "upgrade", "--json")
    assert code == 0 and json.loads(out)["from"] == json.loads(out)["to"]


def test_prompt_workflow_commit_log_show_label_render(cli, tmp_path):
    assert cli("prompt", "create", "summarize", "-d", "Summaries", "-t", "demo")[0] == 0
    assert cli("prompt", "commit", "summarize", "--text", "Summarize {{ text }}.", "-m", "first")[0] == 0
    (tmp_path / "chat.yaml").write_text("- role: system\n  content: Be terse.\n- role: user\n  content: '{{ text }}'\n")
    (tmp_path / "config.json").write_text('{"model": "offline/echo", "temperature": 0}')
    code, out, _ = cli("prompt", "commit", "summarize", "-f", "chat.yaml", "--config", "config.json", "-m", "chat", "--json")
    assert code == 0 and json.loads(out)["number"] == 2
    code, out, _ = cli("prompt", "log", "summarize", "--json")
    assert [e["number"] for e in json.loads(out)] == [2, 1]
    assert cli("prompt", "label", "summarize", "production", "1")[0] == 0
    code, out, _ = cli("prompt", "show", "summarize@production", "--json")
    assert json.loads(out)["content"] == "Summarize {{ text }}."
    code, out, _ = cli("prompt", "render", "summarize@2", "--var", "text=hello")
    assert "[system]\nBe terse." in out and "hello" in out
    code, out, _ = cli("prompt", "list", "--search", "summ", "--json")
    assert json.loads(out)[0]["refs"] == {"main": 2, "production": 1}


def test_prompt_commit_keeps_head_config_when_none_given(cli):
    cli("prompt", "create", "p")
    cli("prompt", "commit", "p", "--text", "one")
    cli("prompt", "commit", "p", "--text", "one")  # refused: identical
    code, out, _ = cli("prompt", "show", "p", "--json")
    assert json.loads(out)["number"] == 1


def test_prompt_branch_merge_revert_and_diff(cli):
    cli("prompt", "create", "p")
    cli("prompt", "commit", "p", "--text", "alpha\nbeta\ngamma\n")
    assert cli("prompt", "branch", "p", "exp", "--from", "1")[0] == 0
    cli("prompt", "commit", "p", "--text", "ALPHA\nbeta\ngamma\n", "--branch", "exp")
    cli("prompt", "commit", "p", "--text", "alpha\nbeta\nGAMMA\n")
    code, out, _ = cli("prompt", "merge", "p", "exp", "--json")
    assert code == 0 and json.loads(out)["content"] == "ALPHA\nbeta\nGAMMA\n"
    code, out, _ = cli("prompt", "diff", "p", "1", "4", "--no-color")
    assert code == 0 and "ALPHA" in out and "GAMMA" in out
    code, out, _ = cli("prompt", "revert", "p", "1", "--json")
    assert json.loads(out)["message"] == "Revert to v1"


def test_prompt_merge_conflict_exits_nonzero_and_shows_both_sides(cli):
    cli("prompt", "create", "p")
    cli("prompt", "commit", "p", "--text", "say hi\n")
    cli("prompt", "branch", "p", "exp")
    cli("prompt", "commit", "p", "--text", "say bonjour\n", "--branch", "exp")
    cli("prompt", "commit", "p", "--text", "say hallo\n")
    code, out, err = cli("prompt", "merge", "p", "exp")
    assert code == 1 and err.startswith("error: ")
    assert "bonjour" in err and "hallo" in err


def test_prompt_merge_draft_then_resolution_commits_the_merge(cli, tmp_path):
    cli("prompt", "create", "p")
    cli("prompt", "commit", "p", "--text", "say hi\n")
    cli("prompt", "branch", "p", "exp")
    cli("prompt", "commit", "p", "--text", "say bonjour\n", "--branch", "exp")
    cli("prompt", "commit", "p", "--text", "say hallo\n")
    code, out, _ = cli("prompt", "merge", "p", "exp", "--draft")
    assert code == 0 and "<<<<<<<" in out and "bonjour" in out and "hallo" in out
    (tmp_path / "resolved.txt").write_text("say bonjour and hallo\n")
    code, out, _ = cli("prompt", "merge", "p", "exp", "--resolved", "resolved.txt", "--json")
    merged = json.loads(out)
    assert code == 0 and (merged["parent"], merged["merge_parent"]) == (3, 2)


@pytest.mark.parametrize(
    "args, message",
    [
        (("prompt", "show", "missing"), "no prompt named 'missing'"),
        (("prompt", "show", "p@nope"), "no version or ref 'nope'"),
        (("prompt", "commit", "p"), "exactly one of --file or --text"),
        (("prompt", "commit", "p", "--text", "{{ broken"), "line 1"),
        (("prompt", "commit", "p", "--text", "x", "--config", "bad.json"), "invalid JSON|not valid JSON"),
        (("prompt", "commit", "p", "-f", "latin1.txt"), "not valid UTF-8 \\(bad byte at offset 3\\)"),
        (("prompt", "create", "p"), "already exists"),
        (("prompt", "render", "p", "--var", "novalue"), "KEY=VALUE"),
        (("prompt", "render", "p"), "missing variable 'x'"),
    ],
)
def test_bad_input_gives_a_one_line_error(cli, tmp_path, args, message):
    (tmp_path / "bad.json").write_text('{"model": ')
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    cli("prompt", "create", "p")
    cli("prompt", "commit", "p", "--text", "hello {{ x }}")
    code, out, err = cli(*args)
    assert code != 0
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
