"""Checks on the command line: pass rates after `promptvault run`, `runs compare` with its regressions and
exit code, and `runs rescore` without calling the models."""

from __future__ import annotations

import json

import pytest

from promptvault.testing.fake_provider import FakeConfig, FakeProvider

CASES = "name,expected\nAda,Hi Ada\nBob,Hi Bob\nCy,Hi Cy\n"


@pytest.fixture
def cli(cli_each_backend, tmp_path):
    """The CLI with prompt `greet` = 'Hi {{ name }}' and dataset `people` (3 cases with expected outputs)."""
    (tmp_path / "cases.csv").write_text(CASES, encoding="utf-8")
    for args in (("prompt", "create", "greet"), ("prompt", "commit", "greet", "--text", "Hi {{ name }}"),
                 ("dataset", "import", "people", "cases.csv")):
        assert cli_each_backend(*args)[0] == 0
    return cli_each_backend


@pytest.fixture
def fake():
    """A fake whose `parrot` answers the prompt back."""
    with FakeProvider(FakeConfig(replies={"parrot": "{last_user}"})) as provider:
        yield provider


def write_spec(tmp_path, fake, checks, name="spec.yaml", **extra) -> str:
    """A run spec of greet × parrot × people with these checks."""
    data = {"prompt": "greet", "models": [{"model": "parrot", "api_base": fake.base_url}], "dataset": "people",
            "checks": checks, **extra}
    (tmp_path / name).write_text(json.dumps(data), encoding="utf-8")
    return name


def test_run_prints_pass_rates_with_intervals_and_each_checks_rate(cli, tmp_path, fake):
    code, out, _ = cli("run", write_spec(tmp_path, fake, ["equals", {"contains": "Ada"}]))
    assert code == 0
    assert "PASSED (95% CI)" in out and "1/3 33% (6%–79%)" in out
    assert "equals expected" in out and "100%" in out and 'contains "Ada"' in out


def test_run_with_a_bad_check_is_refused_before_any_call(cli, tmp_path, fake):
    code, _, err = cli("run", write_spec(tmp_path, fake, [{"regex": "(unclosed"}]))
    assert code == 1 and "checks.0 (regex): bad pattern" in err and fake.calls() == 0


def test_runs_compare_prints_regressions_and_fails_on_them_when_asked(cli, tmp_path, fake):
    assert cli("run", write_spec(tmp_path, fake, ["equals"]))[0] == 0
    assert cli("prompt", "commit", "greet", "--text", "Hello {{ name }}")[0] == 0
    code, out, _ = cli("run", write_spec(tmp_path, fake, ["equals"], name="v2.yaml", baseline=1))
    assert code == 0 and "against baseline run 1" in out and "3 newly failing cases" in out
    code, out, _ = cli("runs", "compare", "2", "1")
    assert code == 0 and "3/3" in out and "0/3" in out and "-100 pts" in out and "worse" in out
    assert out.index("#1") < out.index("#3") and "equals expected" in out
    assert cli("runs", "compare", "2", "1", "--fail-on-regression")[0] == 3
    assert cli("runs", "compare", "1", "1", "--fail-on-regression")[0] == 0
    data = json.loads(cli("runs", "compare", "2", "1", "--json")[1])
    assert data["regressions"] == 3 and data["columns"][0]["verdict"] == "worse"


def test_runs_rescore_changes_the_checks_without_calling_the_models(cli, tmp_path, fake):
    assert cli("run", write_spec(tmp_path, fake, []))[0] == 0
    calls = fake.calls()
    (tmp_path / "checks.yaml").write_text("- {contains: Bob}\n- {type: length, max: 100}\n", encoding="utf-8")
    code, out, _ = cli("runs", "rescore", "1", "checks.yaml")
    assert code == 0 and "1/3 33%" in out and fake.calls() == calls
    code, out, _ = cli("runs", "show", "1", "--json")
    assert json.loads(out)["scores"][0]["passed"] == 1


def test_runs_compare_names_a_run_without_scores(cli, tmp_path, fake):
    assert cli("run", write_spec(tmp_path, fake, []))[0] == 0
    code, _, err = cli("runs", "compare", "1", "1")
    assert code == 1 and "run 1 has no scores" in err
    (tmp_path / "bad.yaml").write_text("checks: [{regex: '('}]\n", encoding="utf-8")
    code, _, err = cli("runs", "rescore", "1", "bad.yaml")
    assert code == 1 and "checks.0 (regex)" in err


def test_estimate_counts_the_judge_calls_it_does_not_price(cli, tmp_path, fake):
    judge = {"model": "judge", "api_base": fake.base_url}
    checks = [{"type": "llm-judge", "model": judge, "rubric": "r"}, {"type": "pick-best", "model": judge}]
    code, out, _ = cli("run", write_spec(tmp_path, fake, checks, repeats=2), "--estimate")
    assert code == 0 and "checks: up to 12 judge calls after the run, not in this estimate" in out
    assert fake.calls() == 0


def test_runs_rescore_reads_checks_from_a_run_spec_and_names_a_yaml_mistake(cli, tmp_path, fake):
    assert cli("run", write_spec(tmp_path, fake, []))[0] == 0
    (tmp_path / "spec.yaml").write_text("prompt: greet\nchecks:\n  - {contains: Ada}\n", encoding="utf-8")
    code, out, _ = cli("runs", "rescore", "1", "spec.yaml")
    assert code == 0 and "1/3 33%" in out
    (tmp_path / "broken.yaml").write_text("- {contains: x\n- equals\n", encoding="utf-8")
    code, _, err = cli("runs", "rescore", "1", "broken.yaml")
    assert code == 1 and "broken.yaml: not valid YAML at line" in err
    (tmp_path / "mapping.yaml").write_text("contains: x\n", encoding="utf-8")
    code, _, err = cli("runs", "rescore", "1", "mapping.yaml")
    assert code == 1 and "expected a YAML list of checks" in err


def test_runs_compare_notes_runs_scored_with_different_checks(cli, tmp_path, fake):
    assert cli("run", write_spec(tmp_path, fake, ["equals"]))[0] == 0
    assert cli("run", write_spec(tmp_path, fake, [{"contains": "Ada"}], name="b.yaml"))[0] == 0
    code, out, _ = cli("runs", "compare", "2", "1")
    assert code == 0 and "were scored with different checks" in out
    assert json.loads(cli("runs", "compare", "2", "1", "--json")[1])["same_checks"] is False
