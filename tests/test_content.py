"""Loading prompt and config files: formats, size limit, UTF-8, error positions."""

from __future__ import annotations

import pytest

from promptvault.content import MAX_FILE_BYTES, load_config_file, load_content_file
from promptvault.errors import ValidationError


@pytest.mark.parametrize(
    "filename, data, expected",
    [
        ("p.txt", "Hello {{ name }}\n", "Hello {{ name }}\n"),
        ("p.md", "\ufeffWith BOM", "With BOM"),
        ("p.json", '[{"role": "user", "content": "hi"}]', [{"role": "user", "content": "hi"}]),
        ("p.json", '{"messages": [{"role": "system", "content": "s"}]}', [{"role": "system", "content": "s"}]),
        ("p.yaml", "- role: user\n  content: hi\n", [{"role": "user", "content": "hi"}]),
    ],
)
def test_load_content_file_reads_each_format(tmp_path, filename, data, expected):
    path = tmp_path / filename
    path.write_text(data, encoding="utf-8")
    assert load_content_file(path) == expected


@pytest.mark.parametrize(
    "filename, data, problem",
    [
        ("p.txt", b"caf\xe9", "not valid UTF-8 \\(bad byte at offset 3\\)"),
        ("p.json", b'[{"role": "user"', "invalid JSON: .* line 1"),
        ("p.yaml", b"- role: user\n  content: [", "invalid YAML at line"),
        ("p.json", b'{"role": "user", "content": "x"}', "must hold a list of chat messages"),
        ("p.json", b'[{"role": "user", "text": "x"}]', "message 1"),
        ("p.txt", b"", "empty"),
        ("missing.txt", None, "cannot read prompt file"),
    ],
)
def test_load_content_file_errors_name_the_problem(tmp_path, filename, data, problem):
    path = tmp_path / filename
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(ValidationError, match=problem):
        load_content_file(path)


def test_load_content_file_refuses_oversized_files_before_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ValidationError, match="the limit is 1,048,576"):
        load_content_file(path)


def test_load_config_file_reads_json_and_yaml(tmp_path):
    (tmp_path / "c.json").write_text('{"model": "m", "temperature": 0.2}')
    (tmp_path / "c.yaml").write_text("model: m\nmax_tokens: 10\n")
    assert load_config_file(tmp_path / "c.json") == {"model": "m", "temperature": 0.2}
    assert load_config_file(tmp_path / "c.yaml") == {"model": "m", "max_tokens": 10}
    (tmp_path / "bad.json").write_text('{"model": "m",\n "x": }')
    with pytest.raises(ValidationError, match="line 2, column 7"):
        load_config_file(tmp_path / "bad.json")
