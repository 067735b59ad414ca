"""Dataset files: parse CSV, JSONL and pasted (tab-separated) tables into cases within limits, and write them back."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from promptvault.content import check_text, normalize_tags
from promptvault.csv_export import to_csv
from promptvault.errors import ValidationError

MAX_IMPORT_BYTES = 20 * 1024 * 1024  # one file, before decoding
MAX_CASES = 50_000  # rows of one file, and cases of one dataset
MAX_COLUMNS = 200  # variables of one case (columns of a table)
MAX_CELL_CHARS = 100_000  # one cell or variable value (non-text values measured as JSON)
MAX_COLUMN_NAME_CHARS = 200
EXPECTED_KEYS = ("expected", "expected_output")
TAGS_KEY = "tags"
STRUCTURED_KEYS = ("vars", "variables")
RESERVED = frozenset(EXPECTED_KEYS + (TAGS_KEY,))
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class CaseData:
    """One parsed test case: variables, optional expected output, tags."""

    variables: dict[str, Any]
    expected: str | None = None
    tags: list[str] = field(default_factory=list)


def parse_cases(data: bytes, filename: str) -> list[CaseData]:
    """Parse a dataset file (format from its name, else sniffed), refusing anything malformed or over a limit."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(f"{filename} is {len(data):,} bytes; the limit is {MAX_IMPORT_BYTES:,} bytes")
    text = decode_strict(data, filename)
    fmt = detect_format(filename, text)
    cases = parse_jsonl(text, filename) if fmt == "jsonl" else parse_table(text, filename, "\t" if fmt == "tsv" else ",")
    if not cases:
        raise ValidationError(f"{filename} has no test cases")
    return cases


def decode_strict(data: bytes, source: str) -> str:
    """Strict UTF-8 (a leading BOM dropped); a bad byte or a NUL byte is named by its byte offset and line."""
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise ValidationError(f"{source} contains a NUL byte at offset {offset} (line {_line_of(data, offset)})")
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        where = f"offset {offset}, line {_line_of(data, offset)}"
        raise ValidationError(f"{source} is not valid UTF-8 (bad byte at {where})") from None


def _line_of(data: bytes, offset: int) -> int:
    """The line (from 1) a byte offset falls on."""
    return data.count(b"\n", 0, offset) + 1


def detect_format(filename: str, text: str) -> str:
    """'csv', 'jsonl' or 'tsv': by file extension, else by the first line (JSON object, tabs, or commas)."""
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if suffix in ("csv", "jsonl", "tsv"):
        return suffix
    if suffix in ("ndjson", "json"):
        return "jsonl"
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    return "tsv" if "\t" in first else "csv"


def parse_table(text: str, source: str, delimiter: str) -> list[CaseData]:
    """A table with a header row: columns are variables, `expected`/`expected_output` and `tags` are special."""
    rows = _table_rows(text, source, delimiter)
    header_line, header = next(rows, (0, None))
    if header is None:
        raise ValidationError(f"{source} has no header row")
    names = _check_header(header, source, header_line)
    cases = []
    for line, row in rows:
        if len(row) != len(names):
            raise ValidationError(f"{source}: line {line} has {len(row)} fields; the header has {len(names)}")
        _check_count(len(cases) + 1, source)
        cases.append(_case_from_mapping(dict(zip(names, row)), f"{source}: line {line}"))
    return cases


def _table_rows(text: str, source: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on; a broken quote or an oversize field names its line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger" in str(exc):
                raise ValidationError(f"{source}: line {line}: a cell is over the {MAX_CELL_CHARS:,}-character limit") from None
            raise ValidationError(f"{source}: line {line}: malformed {_kind(delimiter)} ({exc})") from None
        if any(cell.strip() for cell in row):
            yield line, row
        line = reader.line_num + 1


def _kind(delimiter: str) -> str:
    """The table's name in messages."""
    return "CSV" if delimiter == "," else "tab-separated table"


def _check_header(header: list[str], source: str, line: int) -> list[str]:
    """Column names: stripped, non-empty, unique, within the column limits."""
    if len(header) > MAX_COLUMNS:
        raise ValidationError(f"{source} has {len(header)} columns; the limit is {MAX_COLUMNS}")
    names = [name.strip() for name in header]
    seen: set[str] = set()
    for index, name in enumerate(names, start=1):
        if not name:
            raise ValidationError(f"{source}: line {line}: column {index} has no name")
        check_text(name, f"{source}: column {index} name", MAX_COLUMN_NAME_CHARS)
        if name in seen:
            raise ValidationError(f"{source}: line {line}: duplicate column '{name}'")
        seen.add(name)
    if all(key in seen for key in EXPECTED_KEYS):
        raise ValidationError(f"{source}: use one of the columns 'expected' and 'expected_output', not both")
    return names


def parse_jsonl(text: str, source: str) -> list[CaseData]:
    """One JSON object per line: `vars`/`variables` with optional `expected` and `tags`, or flat keys."""
    cases = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{source}: line {line}"
        _check_count(len(cases) + 1, source)
        cases.append(_case_from_object(_load_json(raw, where), where))
    return cases


def _load_json(raw: str, where: str) -> Any:
    """One line's JSON value; NaN and Infinity refused (PostgreSQL's JSON has no such numbers)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{where}: invalid JSON: {exc.msg} at column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"{where}: invalid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    """json.loads hook for NaN/Infinity."""
    raise ValueError(f"{name} is not allowed")


def _case_from_object(obj: Any, where: str) -> CaseData:
    """A case from a JSONL object, structured (`vars`) or flat."""
    if not isinstance(obj, dict):
        raise ValidationError(f"{where}: expected a JSON object, not {type(obj).__name__}")
    keys = [key for key in STRUCTURED_KEYS if key in obj]
    if not keys:
        return _case_from_mapping(obj, where)
    if len(keys) > 1:
        raise ValidationError(f"{where}: use one of 'vars' and 'variables', not both")
    unknown = sorted(set(obj) - {keys[0], TAGS_KEY, *EXPECTED_KEYS})
    if unknown:
        raise ValidationError(f"{where}: unknown key '{unknown[0]}' (allowed: vars or variables, expected, tags)")
    variables = obj[keys[0]]
    if not isinstance(variables, dict):
        raise ValidationError(f"{where}: '{keys[0]}' must be a JSON object")
    reserved = sorted(RESERVED & set(variables))
    if reserved:
        raise ValidationError(f"{where}: '{reserved[0]}' is reserved and cannot be a variable name")
    extras = {key: obj[key] for key in obj if key != keys[0]}
    return _case_from_mapping({**variables, **extras}, where)


def _case_from_mapping(mapping: dict[str, Any], where: str) -> CaseData:
    """Split a row or flat object into variables, expected output and tags."""
    present = [key for key in EXPECTED_KEYS if key in mapping]
    if len(present) > 1:
        raise ValidationError(f"{where}: use one of 'expected' and 'expected_output', not both")
    variables = {key: value for key, value in mapping.items() if key not in RESERVED}
    expected = mapping.get(present[0]) if present else None
    return make_case(variables, None if expected == "" else expected, mapping.get(TAGS_KEY), where)


def make_case(variables: Any, expected: Any, tags: Any, where: str) -> CaseData:
    """A validated case: JSON-safe variables within the limits, text or no expected output, clean tags."""
    if not isinstance(variables, dict):
        raise ValidationError(f"{where}: variables must be a mapping of names to values")
    if len(variables) > MAX_COLUMNS:
        raise ValidationError(f"{where}: {len(variables)} variables; the limit is {MAX_COLUMNS}")
    for key, value in variables.items():
        check_text(key, f"{where}: variable name", MAX_COLUMN_NAME_CHARS, allow_empty=False)
        _check_value(value, f"{where}: variable '{key}'")
    if expected is not None:
        check_text(expected, f"{where}: expected output", MAX_CELL_CHARS)
    return CaseData(variables=dict(variables), expected=expected, tags=_tags(tags, where))


def _check_value(value: Any, where: str) -> None:
    """A variable value: text within the cell limit, or plain JSON whose text is within it."""
    if isinstance(value, str):
        check_text(value, where, MAX_CELL_CHARS)
        return
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where} is not plain JSON: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{where} is not a finite number")
    check_text(encoded, where, MAX_CELL_CHARS)  # also refuses a NUL or lone surrogate escaped inside


def _tags(value: Any, where: str) -> list[str]:
    """Tags from a list or a comma-separated text."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValidationError(f"{where}: tags must be a list of text or comma-separated text")
    try:
        return normalize_tags(value)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None


def _check_count(count: int, source: str) -> None:
    """Refuse a file past the row limit as soon as it is reached."""
    if count > MAX_CASES:
        raise ValidationError(f"{source} has more than {MAX_CASES:,} test cases (the limit)")


def cases_to_csv(cases: list[CaseData]) -> str:
    """Cases as CSV: one column per variable (first-seen order), then expected and tags; cells defanged."""
    names = list(dict.fromkeys(key for case in cases for key in case.variables))
    rows = (
        [_cell(case.variables.get(name, "")) for name in names] + [case.expected or "", ",".join(case.tags)]
        for case in cases
    )
    return to_csv(names + ["expected", TAGS_KEY], rows)


def _cell(value: Any) -> str:
    """A variable as a CSV cell: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def cases_to_jsonl(cases: list[CaseData]) -> str:
    """Cases as JSON lines in the structured form ({"vars": ..., "expected": ..., "tags": [...]})."""
    lines = (
        json.dumps({"vars": case.variables, "expected": case.expected, "tags": case.tags}, ensure_ascii=False)
        for case in cases
    )
    return "".join(line + "\n" for line in lines)
