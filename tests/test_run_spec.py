"""The run spec: one table of refusals, each naming the field; the README's example parses."""

from __future__ import annotations

import json

import pytest
import yaml

from promptvault.errors import ValidationError
from promptvault.run_spec import EXAMPLE_SPEC, RunSpec, load_spec, looks_like_secret, parse_spec

BASE = {"prompt": "greet", "models": ["offline/echo"], "dataset": "people"}
SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"

REFUSED = [
    ("typo", {"repaets": 2}, "repaets: unknown field"),
    ("typo in a model", {"models": [{"model": "x", "apibase": "http://h"}]}, "models.0.apibase: unknown field"),
    ("both dataset and cases", {"cases": [{"name": "a"}]}, "dataset/cases: give either"),
    ("neither dataset nor cases", {"dataset": None}, "dataset/cases: give either"),
    ("no prompt", {"prompt": None}, "prompt:"),
    ("no models", {"models": []}, "models:"),
    ("repeats 0", {"repeats": 0}, "repeats: Input should be greater than or equal to 1"),
    ("repeats 101", {"repeats": 101}, "repeats: Input should be less than or equal to 100"),
    ("concurrency 0", {"concurrency": 0}, "concurrency: Input should be greater than or equal to 1"),
    ("concurrency 501", {"concurrency": 501}, "concurrency: Input should be less than or equal to 500"),
    ("timeout 0", {"timeout": 0}, "timeout: Input should be greater than 0"),
    ("timeout 601", {"timeout": 601}, "timeout: Input should be less than or equal to 600"),
    ("timeout text", {"timeout": "soon"}, "timeout: Input should be a valid number"),
    ("a key as the key", {"models": [{"model": "openai/gpt-4o", "key": SECRET}]}, "models.0.key: looks like an API key"),
    ("a key as a model", {"models": [SECRET]}, "models.0.model: looks like an API key"),
    ("a key in params", {"params": {"api_key": SECRET}}, "params: 'api_key' cannot be a param"),
    ("a key as a param value", {"params": {"extra_headers_token": SECRET}}, "params: a value looks like an API key"),
    ("the runner's timeout in params", {"params": {"timeout": 3}}, "params: 'timeout' cannot be a param"),
    ("a model twice", {"models": ["offline/echo", "offline/echo"]}, "models: 'offline/echo' is listed twice"),
    ("negative budget", {"budget_usd": -1}, "budget_usd: Input should be greater than or equal to 0"),
    ("cases not mappings", {"dataset": None, "cases": ["a"]}, "cases.0: Input should be a valid dictionary"),
]


@pytest.mark.parametrize("change, message", [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_spec_refusal_names_the_field(change, message):
    with pytest.raises(ValidationError) as caught:
        parse_spec({**BASE, **change})
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert SECRET not in text


def test_spec_defaults():
    spec = parse_spec(BASE)
    assert spec.versions == ["main"]
    assert (spec.repeats, spec.concurrency, spec.timeout, spec.cache, spec.budget_usd) == (1, 8, 60, None, None)
    assert spec.models[0].model == "offline/echo" and spec.models[0].label == "offline/echo"


@pytest.mark.parametrize("params, cache, enabled", [
    ({"temperature": 0}, None, True), ({"temperature": 0.7}, None, False), ({}, None, False),
    ({"temperature": 0.7}, True, True), ({"temperature": 0}, False, False),
])
def test_spec_cache_defaults_to_temperature_zero(params, cache, enabled):
    assert parse_spec({**BASE, "params": params, "cache": cache}).cache_enabled is enabled


def test_spec_accepts_mixed_model_forms_and_a_stored_key_reference():
    spec = parse_spec({**BASE, "versions": [1, "main", "production"], "models": [
        "openai/gpt-4o-mini", {"model": "openai/llama3", "api_base": "http://127.0.0.1:9/v1", "key": "local-llm"},
        {"model": "openai/gpt-4o", "key": 7},
    ]})
    assert [m.label for m in spec.models] == ["openai/gpt-4o-mini", "openai/llama3@http://127.0.0.1:9/v1", "openai/gpt-4o"]
    assert spec.models[2].key == 7


def test_example_spec_is_complete_and_valid():
    data = yaml.safe_load(EXAMPLE_SPEC)
    assert set(data) | {"cases"} == set(RunSpec.model_fields)
    spec = parse_spec(data)
    assert spec.repeats == 2 and spec.cache_enabled


def test_load_spec_reads_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text(EXAMPLE_SPEC)
    (tmp_path / "b.json").write_text(json.dumps({**BASE, "repeats": 3}))
    assert load_spec(tmp_path / "a.yaml").prompt == "summarize"
    assert load_spec(tmp_path / "b.json").repeats == 3


@pytest.mark.parametrize("name, text, message", [
    ("bad.yaml", "prompt: [unclosed\n", "bad.yaml: not valid YAML at line"),
    ("list.yaml", "- a\n- b\n", "list.yaml: expected a mapping of fields"),
    ("typo.yaml", "prompt: p\nmodels: [offline/echo]\ndataset: d\nrepeat: 2\n", "typo.yaml: repeat: unknown field"),
    ("bad.json", "{", "bad.json: not valid JSON"),
])
def test_load_spec_errors_name_the_file_and_problem(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")):
        load_spec(tmp_path / name)


def test_load_spec_missing_file(tmp_path):
    with pytest.raises(ValidationError, match="cannot read"):
        load_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize("value, secret", [
    ("sk-abc123", True), ("AIzaSyA-" + "x" * 30, True), ("a" * 48, True),
    ("openai-team", False), ("local-llm", False), ("3", False),
])
def test_looks_like_secret(value, secret):
    assert looks_like_secret(value) is secret


def test_spec_checks_are_parsed_and_survive_a_round_trip_through_the_runs_table():
    spec = parse_spec({**BASE, "checks": ["equals", {"regex": "^A"}, {"json-schema": {"type": "object"}}],
                       "baseline": 3})
    assert [c.type for c in spec.checks] == ["equals", "regex", "json-schema"] and spec.baseline == 3
    stored = spec.model_dump(mode="json")
    assert RunSpec.model_validate(stored).checks == spec.checks
    assert RunSpec.model_validate(spec.model_copy().model_dump()).checks == spec.checks


@pytest.mark.parametrize("checks, message", [
    ([{"regex": "(unclosed"}], r"checks.0 \(regex\): bad pattern"),
    ([{"json-schema": {"type": 12}}], r"checks.0 \(json-schema\)"),
    (["containz"], "unknown check type 'containz'"),
    ("equals", "expected a list of checks"),
])
def test_spec_with_a_bad_check_names_the_check(checks, message):
    with pytest.raises(ValidationError, match=message):
        parse_spec({**BASE, "checks": checks})
