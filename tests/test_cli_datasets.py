"""`promptvault dataset ...` on a fresh data folder, on each backend: import, list, show, export, errors, roles."""

from __future__ import annotations

import csv
import io
import json

import pytest


CSV = 'text,lang,expected,tags\nhello,fr,bonjour,"a,b"\n=HYPERLINK("http://x"),@de,+1,\n'


@pytest.fixture
def cli(cli_each_backend):
    """Every dataset CLI test runs on each backend."""
    return cli_each_backend


def test_dataset_import_list_show(cli, tmp_path):
    (tmp_path / "cases.csv").write_text(CSV, encoding="utf-8")
    code, out, _ = cli("dataset", "import", "greet", "cases.csv", "--json")
    assert code == 0 and (json.loads(out)["cases"], json.loads(out)["imported"]) == (2, 2)
    code, out, _ = cli("dataset", "import", "greet", "cases.csv")
    assert (code, out) == (0, "imported into 'greet': 2 cases (4 in all)\n")
    code, out, _ = cli("dataset", "import", "greet", "cases.csv", "--replace")
    assert (code, out) == (0, "replaced the cases of 'greet': 2 cases (2 in all)\n")
    code, out, _ = cli("dataset", "list", "--json")
    assert [(d["name"], d["cases"]) for d in json.loads(out)] == [("greet", 2)]
    code, out, _ = cli("dataset", "list")
    assert out.splitlines()[0].split() == ["NAME", "CASES", "DESCRIPTION", "CREATED", "BY", "UPDATED"]
    code, out, _ = cli("dataset", "show", "greet", "--json")
    cases = json.loads(out)["cases"]
    assert cases[0] == {"position": 1, "variables": {"text": "hello", "lang": "fr"}, "expected": "bonjour", "tags": ["a", "b"]}
    code, out, _ = cli("dataset", "show", "greet", "--limit", "1")
    assert code == 0 and "bonjour" in out and "... 1 more" in out


def test_dataset_export_csv_is_defanged_and_jsonl_round_trips(cli, tmp_path):
    (tmp_path / "cases.csv").write_text(CSV, encoding="utf-8")
    cli("dataset", "import", "greet", "cases.csv")
    code, out, _ = cli("dataset", "export", "greet")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[2] == ["'=HYPERLINK(\"http://x\")", "'@de", "'+1", ""]
    code, out, _ = cli("dataset", "export", "greet", "--format", "jsonl")
    (tmp_path / "copy.jsonl").write_text(out, encoding="utf-8")
    assert cli("dataset", "import", "copy", "copy.jsonl")[0] == 0
    shown = [json.loads(cli("dataset", "show", name, "--json")[1])["cases"] for name in ("copy", "greet")]
    assert shown[0] == shown[1]


@pytest.mark.parametrize("content, problem", [
    (b"a,b\n1,2\n3\n", "error: bad.csv: line 3 has 1 fields; the header has 2\n"),
    (b"a,b\n1,\xff\n", "error: bad.csv is not valid UTF-8 (bad byte at offset 6, line 2)\n"),
], ids=["ragged", "bad-utf8"])
def test_dataset_import_error_is_one_line_and_writes_nothing(cli, tmp_path, content, problem):
    (tmp_path / "bad.csv").write_bytes(content)
    code, _, err = cli("dataset", "import", "d", "bad.csv")
    assert (code, err) == (1, problem)
    assert json.loads(cli("dataset", "list", "--json")[1]) == []


def test_dataset_unknown_names_and_files_are_one_line_errors(cli):
    assert cli("dataset", "show", "nope") == (1, "", "error: no dataset named 'nope'\n")
    assert cli("dataset", "import", "d", "missing.csv") == (1, "", "error: cannot read missing.csv: No such file or directory\n")


def test_dataset_viewer_can_read_but_not_import(cli, tmp_path):
    (tmp_path / "cases.csv").write_text(CSV, encoding="utf-8")
    assert cli("users", "add", "admin@example.com", "--no-password")[0] == 0
    assert cli("users", "add", "viewer@example.com", "--no-password")[0] == 0
    assert cli("members", "add", "Default", "viewer@example.com", "--role", "viewer")[0] == 0
    assert cli("dataset", "import", "d", "cases.csv")[0] == 0
    code, _, err = cli("--as", "viewer@example.com", "dataset", "import", "d", "cases.csv")
    assert (code, err) == (1, "error: dataset.write needs the editor role or higher; you are viewer\n")
    code, out, _ = cli("--as", "viewer@example.com", "dataset", "list", "--json")
    assert [(d["name"], d["cases"]) for d in json.loads(out)] == [("d", 2)]
