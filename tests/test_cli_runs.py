"""`promptvault run` and `promptvault runs ...` against a loopback OpenAI-compatible fake, on each backend."""

from __future__ import annotations

import json

import pytest

from promptvault.testing.fake_provider import FakeConfig, FakeProvider

CASES = "name\nAda\nBob\nCy\n"
CELLS = 3 * 2  # 3 cases × 2 repeats × 1 version × 1 model


@pytest.fixture
def cli(cli_each_backend, tmp_path):
    """The CLI on each backend, with prompt `greet` (v1) and dataset `people` (3 cases) created through it."""
    (tmp_path / "cases.csv").write_text(CASES, encoding="utf-8")
    for args in (("prompt", "create", "greet"), ("prompt", "commit", "greet", "--text", "Say hi to {{ name }}"),
                 ("dataset", "import", "people", "cases.csv")):
        assert cli_each_backend(*args)[0] == 0
    return cli_each_backend


@pytest.fixture
def fake():
    """The fake provider, serving `fake-model`."""
    with FakeProvider(FakeConfig()) as provider:
        yield provider


def write_spec(tmp_path, fake, name="spec.yaml", **extra) -> str:
    """A run spec of greet × fake-model × people × 2 repeats, with extra top-level fields as YAML lines."""
    lines = ["prompt: greet", "models:", "  - model: fake-model", f"    api_base: {fake.base_url}",
             "dataset: people", "repeats: 2", *(f"{key}: {json.dumps(value)}" for key, value in extra.items())]
    (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def test_run_estimate_prints_calls_and_tokens_and_calls_nothing(cli, tmp_path, fake):
    code, out, _ = cli("run", write_spec(tmp_path, fake, params={"max_tokens": 20}), "--estimate")
    assert code == 0 and out.startswith("planned: 6 calls = 1 version × 1 model × 3 cases × 2 repeats\n")
    model_row = next(line for line in out.splitlines() if line.startswith("fake-model"))
    calls, input_tokens, output_tokens = model_row.split()[1:4]
    assert (calls, output_tokens) == ("6", "120") and int(input_tokens) > 0 and "unknown price" in model_row
    assert "unknown price for fake-model" in out
    code, out, _ = cli("run", write_spec(tmp_path, fake), "--estimate", "--json")
    assert code == 0 and json.loads(out)["calls"] == CELLS
    assert fake.calls() == 0 and json.loads(cli("runs", "list", "--json")[1]) == []


def test_run_estimate_names_the_offline_echo(cli, tmp_path):
    (tmp_path / "offline.yaml").write_text("prompt: greet\nmodels: [offline/echo]\ndataset: people\n", encoding="utf-8")
    code, out, _ = cli("run", "offline.yaml", "--estimate")
    assert code == 0 and "offline/echo (not a real model, free)  3" in out and "$0.0000" in out


def test_run_finishes_with_the_summary_and_calls_every_cell_once(cli, tmp_path, fake):
    code, out, err = cli("run", write_spec(tmp_path, fake))
    assert code == 0 and fake.calls("fake-model") == CELLS
    assert err.startswith("run 1: 6 cells\n")
    assert out.splitlines()[0].startswith("run 1: done  6 done, 0 failed of 6 cells")
    assert out.splitlines()[1].split()[:3] == ["COLUMN", "CALLS", "ERRORS"]
    assert out.splitlines()[3].split()[:6] == ["v1", "(main)", "×", f"fake-model@{fake.base_url}", "6", "0"]


def test_run_json_parses(cli, tmp_path, fake):
    code, out, _ = cli("run", write_spec(tmp_path, fake), "--json")
    result = json.loads(out)
    assert code == 0 and result["run"]["status"] == "done" and result["run"]["done_cells"] == CELLS
    [column] = result["summary"]
    assert (column["calls"], column["errors"]) == (CELLS, 0) and column["input_tokens"] > 0


@pytest.mark.parametrize("args, message", [
    (("run", "typo.yaml"), "error: typo.yaml: concurrenzy: unknown field (check the spelling)\n"),
    (("run",), "error: give either a run spec file or --resume RUN_ID (exactly one)\n"),
    (("run", "typo.yaml", "--resume", "1"), "error: give either a run spec file or --resume RUN_ID (exactly one)\n"),
    (("run", "--resume", "99"), "error: no run 99\n"),
    (("runs", "show", "99"), "error: no run 99\n"),
], ids=["typo", "neither", "both", "resume-missing", "show-missing"])
def test_run_errors_are_one_line(cli, tmp_path, fake, args, message):
    write_spec(tmp_path, fake, name="typo.yaml", concurrenzy=4)
    code, out, err = cli(*args)
    assert (code, out, err) == (1, "", message) and fake.calls() == 0


def test_runs_list_and_show(cli, tmp_path, fake):
    cli("run", write_spec(tmp_path, fake))
    code, out, _ = cli("runs", "list")
    assert code == 0 and out.splitlines()[2].split()[:5] == ["1", "done", "greet", "6/6", "0"]
    assert [(r["id"], r["status"]) for r in json.loads(cli("runs", "list", "--json")[1])] == [(1, "done")]
    code, out, _ = cli("runs", "show", "1")
    assert code == 0 and out.startswith("prompt greet versions [1] models fake-model\n") and "run 1: done" in out
    shown = json.loads(cli("runs", "show", "1", "--json")[1])
    assert shown["run"]["id"] == 1 and shown["summary"][0]["calls"] == CELLS


def test_resume_of_a_finished_run_makes_no_call(cli, tmp_path, fake):
    cli("run", write_spec(tmp_path, fake))
    fake.reset()
    code, out, _ = cli("run", "--resume", "1")
    assert code == 0 and fake.calls() == 0 and out.startswith("run 1: done  6 done")


def test_runs_cancel_of_a_pending_run(cli, tmp_path, fake):
    from promptvault import runner
    from promptvault.config import load_settings
    from promptvault.run_spec import load_spec
    from promptvault.workspace import open_workspace

    ws = open_workspace(load_settings())
    try:
        info = runner.start(ws.local_context(), load_spec(tmp_path / write_spec(tmp_path, fake)))
    finally:
        ws.db.dispose()
    assert json.loads(cli("runs", "show", str(info.id), "--json")[1])["run"]["status"] == "pending"
    assert cli("runs", "cancel", str(info.id)) == (0, f"run {info.id}: cancelled\n", "")
    code, _, err = cli("run", "--resume", str(info.id))
    assert code == 1 and fake.calls() == 0
    assert cli("runs", "cancel", str(info.id)) == (1, "", f"error: run {info.id} has already finished (cancelled)\n")


def test_no_cache_calls_every_cell_again(cli, tmp_path, fake):
    spec = write_spec(tmp_path, fake, params={"temperature": 0})
    assert cli("run", spec)[0] == 0 and fake.calls() == CELLS
    fake.reset()
    assert cli("run", spec)[0] == 0 and fake.calls() == 0  # every answer from the cache
    assert cli("run", spec, "--no-cache")[0] == 0 and fake.calls() == CELLS


def test_run_interrupted_says_how_to_resume(cli, tmp_path, fake, monkeypatch):
    from promptvault import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_to_end", interrupted)
    code, _, err = cli("run", write_spec(tmp_path, fake))
    assert (code, err) == (130, "run 1: 6 cells\ninterrupted: resume with `promptvault run --resume 1`\n")


def test_progress_line():
    from promptvault.cli.runs import progress_line
    from promptvault.runner import RunStats

    stats = RunStats(run_id=1, total=400, skipped=0, done=118, failed=2, retrying=3, cost_usd=0.0123)
    assert progress_line(stats).startswith("[######..............] 120/400 done 118 failed 2 retrying 3 $0.0123 ETA ")
