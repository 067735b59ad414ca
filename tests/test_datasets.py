"""Datasets on both backends: imports (CSV, JSONL, pasted), limits, all-or-nothing writes, edits, export, roles."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from promptvault import accounts, dataset_io, datasets, library, versioning
from promptvault.context import Context
from promptvault.errors import AlreadyExistsError, NotFoundError, PermissionDeniedError, ValidationError

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
DEEP_JSON = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"

MALFORMED = [
    ("ragged.csv", b"a,b\n1,2\n3\n", "line 3 has 1 fields; the header has 2"),
    ("long-row.csv", b"a,b\n1,2,3\n", "line 2 has 3 fields"),
    ("quote.csv", b'a,b\n1,"2\n3,4\n', "line 2: malformed CSV"),
    ("stray-quote.csv", b'a,b\n1,"2"x\n', "line 2: malformed CSV"),
    ("bad.jsonl", b'{"a": "1"}\n{"a": \n', "line 2: invalid JSON"),
    ("list.jsonl", b"[1, 2]\n", "line 1: expected a JSON object"),
    ("typo.jsonl", b'{"vars": {"a": "1"}, "expcted": "x"}\n', "line 1: unknown key 'expcted'"),
    ("both.jsonl", b'{"vars": {"a": "1"}, "variables": {"b": "2"}}\n', "not both"),
    ("vars-not-object.jsonl", b'{"vars": ["a"]}\n', "'vars' must be a JSON object"),
    ("reserved.jsonl", b'{"vars": {"tags": "x"}}\n', "'tags' is reserved"),
    ("nan.jsonl", b'{"a": NaN}\n', "NaN is not allowed"),
    ("escaped-nul.jsonl", b'{"a": "x\\u0000y"}\n', "NUL byte"),
    ("surrogate.jsonl", b'{"a": "\\ud800"}\n', "not valid UTF-8"),
    ("expected-number.jsonl", b'{"a": "1", "expected": 5}\n', "expected output must be text"),
    ("deep.jsonl", DEEP_JSON, "line 1: invalid JSON"),
    ("nul.csv", b"a,b\n1,\x002\n", "NUL byte at offset 6 (line 2)"),
    ("latin1.csv", b"a,b\n1,caf\xe9\n", "bad byte at offset 9, line 2"),
    ("bom-latin1.csv", b"\xef\xbb\xbfa\n\xff\n", "bad byte at offset 5, line 2"),
    ("dup.csv", b"a,b,a\n1,2,3\n", "duplicate column 'a'"),
    ("dup-spaces.csv", b"a, a\n1,2\n", "duplicate column 'a'"),
    ("unnamed.csv", b"a,,b\n1,2,3\n", "column 2 has no name"),
    ("two-expected.csv", b"q,expected,expected_output\n1,2,3\n", "not both"),
    ("empty.csv", b"", "no header row"),
    ("blank.csv", b"\n\n", "no header row"),
    ("header-only.csv", b"a,b\n", "no test cases"),
    ("tags.csv", b"a,tags\n1,bad tag!\n", "line 2: tag 'bad tag!'"),
    ("pasted", b"a\tb\n1\t2\t3\n", "line 2 has 3 fields"),
    ("wide.csv", (",".join(f"c{i}" for i in range(201)) + "\n").encode(), "201 columns; the limit is 200"),
    ("cell.csv", b"a\n" + b"x" * 100_001 + b"\n", "is 100,001 characters; the limit is 100,000"),
    ("huge-cell.csv", b"a\n" + b"x" * 200_000 + b"\n", "line 2: a cell is over the 100,000-character limit"),
    ("cell.jsonl", b'{"a": "' + b"x" * 100_001 + b'"}\n', "the limit is 100,000"),
    ("too-big.csv", b"a\n" + b"x" * dataset_io.MAX_IMPORT_BYTES, "the limit is 20,971,520 bytes"),
]


def _names(cases):
    """(variables, expected, tags) of cases, for comparisons."""
    return [(c.variables, c.expected, c.tags) for c in cases]


@pytest.mark.parametrize("filename, data, problem", MALFORMED, ids=[row[0] for row in MALFORMED])
def test_import_malformed_names_the_problem_and_writes_nothing(ctx, filename, data, problem):
    datasets.import_cases(ctx, "kept", b"a\nold\n", "kept.csv")
    for name, replace in (("new", False), ("kept", True), ("kept", False)):
        with pytest.raises(ValidationError) as caught:
            datasets.import_cases(ctx, name, data, filename, replace=replace)
        assert problem in str(caught.value)
    assert [d.name for d in datasets.list_datasets(ctx)] == ["kept"]
    assert _names(datasets.get_cases(ctx, "kept")) == [({"a": "old"}, None, [])]


def test_import_csv_maps_columns_expected_and_tags(ctx):
    data = b"\xef\xbb\xbftext,lang,expected_output,tags\r\nhello,fr,bonjour,\"greeting, Short\"\r\n\r\nbye,de,,\r\n"
    info = datasets.import_cases(ctx, "greetings", data, "g.csv")
    assert (info.name, info.cases, info.imported) == ("greetings", 2, 2)
    assert _names(datasets.get_cases(ctx, "greetings")) == [
        ({"text": "hello", "lang": "fr"}, "bonjour", ["greeting", "short"]),
        ({"text": "bye", "lang": "de"}, None, []),
    ]


def test_import_csv_keeps_quoted_newlines_and_reports_lines_after_them(ctx):
    data = b'q,expected\n"line one\nline two",x\n"a\nb\nc",y\nshort\n'
    with pytest.raises(ValidationError, match="line 7 has 1 fields"):
        datasets.import_cases(ctx, "d", data, "d.csv")
    datasets.import_cases(ctx, "d", data.rsplit(b"short", 1)[0], "d.csv")
    assert [c.variables["q"] for c in datasets.get_cases(ctx, "d")] == ["line one\nline two", "a\nb\nc"]


def test_import_jsonl_structured_and_flat_lines(ctx):
    data = (
        b'{"vars": {"n": 1, "items": ["a", "b"], "meta": {"k": null}}, "expected": "two", "tags": ["x"]}\n'
        b"\n"
        b'{"variables": {"text": "caf\xc3\xa9"}}\n'
        b'{"text": "flat", "expected": "e", "tags": "a, b"}\n'
    )
    datasets.import_cases(ctx, "j", data, "cases.jsonl")
    assert _names(datasets.get_cases(ctx, "j")) == [
        ({"n": 1, "items": ["a", "b"], "meta": {"k": None}}, "two", ["x"]),
        ({"text": "café"}, None, []),
        ({"text": "flat"}, "e", ["a", "b"]),
    ]


@pytest.mark.parametrize("filename", ["pasted", "pasted table", "sheet.tsv", "clipboard.txt"])
def test_import_pasted_table_is_tab_separated(ctx, filename):
    data = b'question\tanswer\texpected\nWhat is 2+2?\t"four,\nor 4"\t4\n'
    datasets.import_cases(ctx, "pasted", data, filename)
    assert _names(datasets.get_cases(ctx, "pasted")) == [({"question": "What is 2+2?", "answer": "four,\nor 4"}, "4", [])]


@pytest.mark.parametrize("filename, fmt", [("x.csv", "csv"), ("x.jsonl", "jsonl"), ("x.ndjson", "jsonl"), ("x", "csv"),
                                           ("x", "jsonl"), ("x", "tsv")])
def test_detect_format_by_extension_or_first_line(filename, fmt):
    first = {"csv": "a,b", "jsonl": ' {"a": 1}', "tsv": "a\tb"}[fmt]
    assert dataset_io.detect_format(filename, f"\n{first}\n") == fmt


def test_csv_round_trip(ctx):
    data = "text,note,expected,tags\nhéllo \"you\",\"a, b\",out,t1\nmulti\nline,x,,\n".encode()
    data = data.replace(b"multi\nline", b'"multi\nline"')
    datasets.import_cases(ctx, "src", data, "src.csv")
    exported = datasets.export_cases(ctx, "src", "csv")
    datasets.import_cases(ctx, "copy", exported.encode(), "copy.csv")
    assert _names(datasets.get_cases(ctx, "copy")) == _names(datasets.get_cases(ctx, "src"))


def test_export_keeps_the_column_order_of_the_file(ctx):
    datasets.import_cases(ctx, "d", b"zeta,alpha,mid,expected\n1,2,3,4\n", "d.csv")
    datasets.import_cases(ctx, "d", b'{"b": "5", "zeta": "6"}\n', "d.jsonl")
    assert list(datasets.get_cases(ctx, "d")[0].variables) == ["zeta", "alpha", "mid"]
    header = datasets.export_cases(ctx, "d").split("\r\n", 1)[0]
    assert header == '"zeta","alpha","mid","b","expected","tags"'


def test_jsonl_round_trip_keeps_json_values(ctx):
    data = b'{"vars": {"n": 1.5, "flag": true, "list": [1, {"a": "b"}]}, "expected": "x", "tags": ["t"]}\n{"a": "\\u00e9"}\n'
    datasets.import_cases(ctx, "src", data, "src.jsonl")
    exported = datasets.export_cases(ctx, "src", "jsonl")
    datasets.import_cases(ctx, "copy", exported.encode(), "copy.jsonl")
    assert _names(datasets.get_cases(ctx, "copy")) == _names(datasets.get_cases(ctx, "src"))
    assert len(exported.splitlines()) == 2


def test_export_csv_defangs_hostile_cells_and_quotes_every_field(ctx):
    hostile = ["=cmd|' /C calc'!A0", "+1", "@x", "\tx", "\rx", "-2", "plain"]
    datasets.create_dataset(ctx, "h")
    for value in hostile:
        datasets.add_case(ctx, "h", {"v": value}, expected=value, tags=["t"])
    exported = datasets.export_cases(ctx, "h", "csv")
    rows = list(csv.reader(io.StringIO(exported, newline="")))
    assert rows[0] == ["v", "expected", "tags"]
    defanged = ["'" + v if v[0] in "=+-@\t\r" else v for v in hostile]
    assert [row[0] for row in rows[1:]] == defanged
    assert [row[1] for row in rows[1:]] == defanged
    assert all(line.startswith('"') for line in exported.split("\r\n") if line)


def test_export_refuses_an_unknown_format(ctx):
    datasets.import_cases(ctx, "d", b"a\n1\n", "d.csv")
    with pytest.raises(ValidationError, match="unknown export format 'xml'"):
        datasets.export_cases(ctx, "d", "xml")


def test_import_appends_or_replaces(ctx):
    datasets.import_cases(ctx, "d", b"a\n1\n2\n", "d.csv")
    info = datasets.import_cases(ctx, "d", b"a\n3\n", "d.csv")
    assert (info.cases, info.imported) == (3, 1)
    assert [(c.position, c.variables["a"]) for c in datasets.get_cases(ctx, "d")] == [(1, "1"), (2, "2"), (3, "3")]
    info = datasets.import_cases(ctx, "d", b"a\n9\n", "d.csv", replace=True)
    assert info.cases == 1 and [c.variables for c in datasets.get_cases(ctx, "d")] == [{"a": "9"}]


def test_import_is_all_or_nothing_when_the_insert_fails(ctx, monkeypatch):
    datasets.import_cases(ctx, "d", b"a\n1\n", "d.csv")
    real = datasets._insert_cases

    def insert_then_fail(*args):
        real(*args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(datasets, "_insert_cases", insert_then_fail)
    for name, replace in (("d", True), ("d", False), ("new", False)):
        with pytest.raises(RuntimeError):
            datasets.import_cases(ctx, name, b"a\n2\n3\n", "d.csv", replace=replace)
    assert [d.name for d in datasets.list_datasets(ctx)] == ["d"]
    assert [c.variables for c in datasets.get_cases(ctx, "d")] == [{"a": "1"}]


def test_dataset_case_limit_counts_what_is_already_there(ctx, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_CASES", 3)
    datasets.import_cases(ctx, "d", b"a\n1\n2\n", "d.csv")
    with pytest.raises(ValidationError, match="would hold 4 test cases; the limit is 3"):
        datasets.import_cases(ctx, "d", b"a\n3\n4\n", "d.csv")
    assert datasets.import_cases(ctx, "d", b"a\n3\n4\n5\n", "d.csv", replace=True).cases == 3
    with pytest.raises(ValidationError, match="holds 3 test cases; the limit is 3"):
        datasets.add_case(ctx, "d", {"a": "6"})
    assert datasets.get_dataset(ctx, "d").cases == 3


def test_row_limit_is_the_documented_one():
    header = b"a\n"
    at_limit = header + b"x\n" * dataset_io.MAX_CASES
    assert len(dataset_io.parse_cases(at_limit, "ok.csv")) == 50_000
    with pytest.raises(ValidationError, match="more than 50,000 test cases"):
        dataset_io.parse_cases(at_limit + b"y\n", "big.csv")
    with pytest.raises(ValidationError, match="more than 50,000 test cases"):
        dataset_io.parse_cases(b'{"a": "x"}\n' * 50_001, "big.jsonl")


def test_import_at_the_row_limit_succeeds(ctx):
    data = b"q,expected\n" + b"".join(b"question %d,answer %d\n" % (i, i) for i in range(dataset_io.MAX_CASES))
    assert datasets.import_cases(ctx, "big", data, "big.csv").cases == 50_000
    cases = datasets.get_cases(ctx, "big")
    assert (cases[-1].position, cases[-1].variables, cases[-1].expected) == (50_000, {"q": "question 49999"}, "answer 49999")


def test_limits_are_documented_in_the_readme():
    for number in ("20 MiB", f"{dataset_io.MAX_CASES:,}", f"{dataset_io.MAX_COLUMNS}", f"{dataset_io.MAX_CELL_CHARS:,}"):
        assert number in README
    assert dataset_io.MAX_IMPORT_BYTES == 20 * 1024 * 1024


def test_import_file_refuses_an_oversize_file_before_reading_it(ctx, tmp_path):
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.truncate(dataset_io.MAX_IMPORT_BYTES + 1)  # sparse: nothing to read if the size check comes first
    with pytest.raises(ValidationError, match="big.csv is 20,971,521 bytes; the limit is 20,971,520 bytes"):
        datasets.import_file(ctx, "d", big)
    with pytest.raises(ValidationError, match="cannot read"):
        datasets.import_file(ctx, "d", tmp_path / "missing.csv")
    assert datasets.list_datasets(ctx) == []
    (tmp_path / "ok.jsonl").write_text('{"a": "1"}\n', encoding="utf-8")
    assert datasets.import_file(ctx, "d", tmp_path / "ok.jsonl").cases == 1


def test_create_and_list_datasets(ctx):
    datasets.create_dataset(ctx, "b-set", "second")
    datasets.import_cases(ctx, "a-set", b"a\n1\n2\n", "a.csv")
    assert [(d.name, d.cases, d.description) for d in datasets.list_datasets(ctx)] == [("a-set", 2, ""), ("b-set", 0, "second")]
    with pytest.raises(AlreadyExistsError):
        datasets.create_dataset(ctx, "b-set")
    with pytest.raises(ValidationError, match="dataset name"):
        datasets.create_dataset(ctx, "bad name")
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        datasets.get_cases(ctx, "nope")


def test_edit_cases_add_update_delete_renumbers(ctx):
    datasets.import_cases(ctx, "d", b"a,expected\n1,one\n2,two\n3,three\n", "d.csv")
    assert datasets.add_case(ctx, "d", {"a": "4"}, tags=["New"]).position == 4
    datasets.update_case(ctx, "d", 1, variables={"a": "1", "b": "x"})
    datasets.update_case(ctx, "d", 3, expected=None, tags=["t"])
    datasets.delete_case(ctx, "d", 2)
    assert [(c.position, c.variables, c.expected, c.tags) for c in datasets.get_cases(ctx, "d")] == [
        (1, {"a": "1", "b": "x"}, "one", []), (2, {"a": "3"}, None, ["t"]), (3, {"a": "4"}, None, ["new"]),
    ]
    with pytest.raises(NotFoundError, match="has no case 9"):
        datasets.update_case(ctx, "d", 9, expected="x")
    with pytest.raises(ValidationError, match="NUL"):
        datasets.update_case(ctx, "d", 1, variables={"a": "x\x00"})
    with pytest.raises(ValidationError, match="variables must be a mapping"):
        datasets.add_case(ctx, "d", ["a"])
    assert len(datasets.get_cases(ctx, "d")) == 3


def test_missing_variables_names_case_and_variable(ctx):
    datasets.import_cases(ctx, "d", b'{"text": "a"}\n{"text": "b", "lang": "fr"}\n{"other": "c"}\n', "d.jsonl")
    assert datasets.missing_variables(ctx, "d", ["lang", "text"]) == [(1, "lang"), (3, "lang"), (3, "text")]
    assert datasets.missing_variables(ctx, "d", []) == []


def test_check_cases_for_prompt_reports_before_a_run(ctx):
    library.create_prompt(ctx, "translate")
    versioning.commit(ctx, "translate", "Translate {{ text }}.", {}, "v1")
    versioning.commit(ctx, "translate", [{"role": "user", "content": "{{ text }} to {{ lang }}"}], {}, "v2")
    datasets.import_cases(ctx, "d", b'{"text": "a"}\n{"text": "b", "lang": "fr"}\n{"other": "c"}\n', "d.jsonl")
    with pytest.raises(ValidationError, match=r"^case 3 of dataset 'd' has no variable 'text' that prompt 'translate' needs$"):
        datasets.check_cases_for_prompt(ctx, "d", "translate", "1")
    with pytest.raises(ValidationError) as caught:
        datasets.check_cases_for_prompt(ctx, "d", "translate", "2")
    assert str(caught.value) == (
        "case 1 of dataset 'd' has no variable 'lang' that prompt 'translate' needs (also: case 3 'lang', case 3 'text')"
    )
    datasets.import_cases(ctx, "full", b'{"text": "a", "lang": "de"}\n', "f.jsonl")
    assert datasets.check_cases_for_prompt(ctx, "full", "translate") == ["lang", "text"]


def test_check_cases_for_prompt_lists_a_few_then_counts_the_rest(ctx):
    library.create_prompt(ctx, "p")
    versioning.commit(ctx, "p", "{{ x }}", {}, "v1")
    datasets.import_cases(ctx, "d", b"y\n" + b"1\n" * 10, "d.csv")
    with pytest.raises(ValidationError, match=r"^case 1 .* \(also: case 2 'x', .*, case 6 'x'; 4 more\)$"):
        datasets.check_cases_for_prompt(ctx, "d", "p")


def test_viewer_reads_but_cannot_change(ctx, person):
    datasets.import_cases(ctx, "d", b"a\n1\n", "d.csv")
    viewer = person("viewer@example.com", "viewer")
    assert [d.name for d in datasets.list_datasets(viewer)] == ["d"]
    assert len(datasets.get_cases(viewer, "d")) == 1 and datasets.export_cases(viewer, "d", "jsonl")
    for attempt in (
        lambda: datasets.import_cases(viewer, "d", b"a\n2\n", "d.csv"),
        lambda: datasets.import_cases(viewer, "new", b"a\n2\n", "d.csv"),
        lambda: datasets.create_dataset(viewer, "new"),
        lambda: datasets.add_case(viewer, "d", {"a": "2"}),
        lambda: datasets.update_case(viewer, "d", 1, expected="x"),
        lambda: datasets.delete_case(viewer, "d", 1),
    ):
        with pytest.raises(PermissionDeniedError, match="dataset.write needs the editor role"):
            attempt()
    assert _names(datasets.get_cases(ctx, "d")) == [({"a": "1"}, None, [])]
    assert [d.name for d in datasets.list_datasets(ctx)] == ["d"]


def test_editor_can_import(ctx, person):
    editor = person("editor@example.com", "editor")
    assert datasets.import_cases(editor, "d", b"a\n1\n", "d.csv").created_by == "editor@example.com"


def test_non_member_sees_nothing(ctx, workspace):
    datasets.import_cases(ctx, "d", b"a\nsecret\n", "d.csv")
    accounts.add_user(ctx, "outsider@example.com")
    actor = accounts.actor_for_email(workspace.db, "outsider@example.com")
    outsider = Context(db=workspace.db, actor=actor, project_id=ctx.project_id, keyring=workspace.keyring)
    for attempt in (
        lambda: datasets.list_datasets(outsider),
        lambda: datasets.get_cases(outsider, "d"),
        lambda: datasets.export_cases(outsider, "d"),
        lambda: datasets.missing_variables(outsider, "d", ["a"]),
        lambda: datasets.import_cases(outsider, "d", b"a\n2\n", "d.csv"),
    ):
        with pytest.raises(NotFoundError, match="no such project"):
            attempt()
    assert len(datasets.get_cases(ctx, "d")) == 1
