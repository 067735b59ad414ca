"""Planning a run on both backends: versions × models × cases × repeats, stable keys, checks before any call,
the estimate (overrides, offline, unknown prices) and the team budget."""

from __future__ import annotations

import pytest

from promptvault import datasets, library, providers, refs, runs, versioning
from promptvault.errors import NotFoundError, PermissionDeniedError, TemplateError, ValidationError
from promptvault.run_plan import DEFAULT_OUTPUT_TOKENS, check_budget, estimate, plan_run
from promptvault.run_spec import parse_spec

CUSTOM = "openai/our-custom-model-x"  # not in litellm's price map


@pytest.fixture
def greet(ctx):
    """Prompt `greet` with v1 (text), v2 (chat, on main and labelled production) and dataset `people` (2 cases)."""
    library.create_prompt(ctx, "greet")
    versioning.commit(ctx, "greet", "Hello {{ name }}", {"temperature": 0, "max_tokens": 50}, "v1")
    versioning.commit(ctx, "greet", [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Hi {{ name }} from {{ city }}"}], {}, "v2")
    refs.set_label(ctx, "greet", "production", "2")
    datasets.import_cases(ctx, "people", b"name,city\nAda,London\nBob,Paris\n", "people.csv")
    return ctx


def spec(**changes):
    return parse_spec({"prompt": "greet", "versions": [1, 2], "models": ["offline/echo", CUSTOM],
                       "dataset": "people", "repeats": 3, **changes})


def test_plan_expands_versions_models_cases_repeats(greet):
    plan = plan_run(greet, spec())
    cells = list(plan.cells())
    assert plan.total_cells == len(cells) == 2 * 2 * 2 * 3
    assert len({c.cell_key for c in cells}) == len(cells)
    first = cells[0]
    assert (first.version.number, first.model.model, first.case.position, first.repeat) == (1, "offline/echo", 1, 1)
    assert first.cell_key == f"{first.version.id}:offline/echo:1:1"
    assert first.messages == [{"role": "user", "content": "Hello Ada"}]
    chat = next(c for c in cells if c.version.number == 2 and c.case.position == 2)
    assert chat.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi Bob from Paris"}]


def test_plan_keys_are_stable_and_skip_works(greet):
    keys = [c.cell_key for c in plan_run(greet, spec()).cells()]
    again = plan_run(greet, spec())
    assert [c.cell_key for c in again.cells()] == keys
    assert [c.cell_key for c in again.cells(skip=set(keys[:5]))] == keys[5:]


def test_plan_refs_naming_one_version_call_it_once(greet):
    plan = plan_run(greet, spec(versions=[2, "main", "production"], models=["offline/echo"], repeats=1))
    assert [v.number for v in plan.versions] == [2]
    assert plan.total_cells == 2


def test_plan_params_merge_version_config_under_spec_params(greet):
    plan = plan_run(greet, spec(params={"temperature": 0.5}))
    v1 = plan.versions[0]
    assert v1.params == {"temperature": 0.5, "max_tokens": 50}


def test_plan_inline_cases_with_expected(greet):
    plan = plan_run(greet, spec(dataset=None, versions=[1], cases=[{"name": "Cy", "expected": "Hello Cy"}]))
    (cell,) = list(plan.cells())[:1]
    assert cell.case.expected == "Hello Cy" and cell.case.variables == {"name": "Cy"}
    assert cell.messages[0]["content"] == "Hello Cy"


def test_plan_missing_variable_is_named_before_anything_runs(greet):
    datasets.import_cases(greet, "partial", b"name\nAda\n", "partial.csv")
    with pytest.raises(ValidationError, match="case 1 of dataset 'partial' has no variable 'city' that 'greet' v2 needs"):
        plan_run(greet, spec(dataset="partial"))


def test_plan_inline_case_missing_variable(greet):
    with pytest.raises(ValidationError, match="case 2 of the spec's inline cases has no variable 'name'"):
        plan_run(greet, spec(dataset=None, versions=[1], cases=[{"name": "a"}, {"nom": "b"}]))


def test_plan_render_error_names_the_case(greet):
    versioning.commit(greet, "greet", "{{ 10 // n }}", {}, "v3")
    with pytest.raises(TemplateError, match="case 2 with v3"):
        plan_run(greet, spec(versions=[3], dataset=None, cases=[{"n": 1}, {"n": 0}]))


@pytest.mark.parametrize("change, error, message", [
    ({"prompt": "nope"}, NotFoundError, "no prompt named 'nope'"),
    ({"versions": [9]}, NotFoundError, "no version or ref '9'"),
    ({"dataset": "nope"}, NotFoundError, "no dataset named 'nope'"),
])
def test_plan_unknown_names(greet, change, error, message):
    with pytest.raises(error, match=message):
        plan_run(greet, spec(**change))


def test_plan_needs_membership(greet, person):
    outsider = person("out@example.com", None)
    with pytest.raises(NotFoundError):
        plan_run(outsider, spec())


def test_estimate_offline_is_free_and_unknown_price_is_not_zero(greet):
    plan = plan_run(greet, spec())
    result = estimate(plan)
    assert result.calls == 24
    echo, custom = result.models
    assert echo.offline and echo.cost_usd == 0.0
    assert custom.cost_usd is None and result.unknown_price == [CUSTOM]
    assert result.cost_usd is None and result.known_cost_usd == 0.0
    # v1 has max_tokens 50; v2 none, so the documented default
    assert custom.output_tokens == 3 * 2 * 50 + 3 * 2 * DEFAULT_OUTPUT_TOKENS
    counted = sum(providers.count_tokens(CUSTOM, plan.rendered[(v.id, c.position)]) for v in plan.versions for c in plan.cases)
    assert custom.input_tokens == 3 * counted


def test_estimate_with_team_override(greet):
    runs.set_price(greet, CUSTOM, 1e-6, 2e-6)
    plan = plan_run(greet, spec())
    result = estimate(plan, runs.price_overrides(greet))
    custom = result.models[1]
    assert custom.cost_usd == pytest.approx(custom.input_tokens * 1e-6 + custom.output_tokens * 2e-6)
    assert result.cost_usd == pytest.approx(custom.cost_usd) and result.unknown_price == []


def test_estimate_override_beats_litellm_price(greet):
    model = "openai/gpt-4o-mini"
    assert providers.price_per_token(model) is not None
    plan = plan_run(greet, spec(models=[model], repeats=1, versions=[1]))
    result = estimate(plan, {model: (0.0, 0.0)})
    assert result.cost_usd == 0.0
    assert estimate(plan).cost_usd > 0


def test_budget_refuses_a_run_over_what_is_left(greet):
    runs.set_price(greet, CUSTOM, 1e-3, 1e-3)
    result = estimate(plan_run(greet, spec()), runs.price_overrides(greet))
    assert check_budget(greet, result) is None  # no budget set
    runs.set_budget(greet, result.cost_usd * 2)
    assert check_budget(greet, result).left_usd == pytest.approx(result.cost_usd * 2)
    runs.set_budget(greet, result.cost_usd / 2)
    with pytest.raises(ValidationError, match=r"estimated cost \$.* exceeds the team's budget"):
        check_budget(greet, result)


def test_budget_counts_this_months_runs(greet):
    runs.set_price(greet, CUSTOM, 1e-3, 1e-3)
    plan = plan_run(greet, spec())
    result = estimate(plan, runs.price_overrides(greet))
    runs.set_budget(greet, result.cost_usd * 1.5)
    run = runs.create_run(greet, plan.spec, plan, result)
    runs.record_progress(greet.db, run.id, done=1, cost=result.cost_usd)
    assert runs.get_budget(greet).spent_usd == pytest.approx(result.cost_usd)
    with pytest.raises(ValidationError, match="exceeds the team's budget"):
        runs.create_run(greet, plan.spec, plan, result)


def test_budget_refuses_unknown_prices(greet):
    result = estimate(plan_run(greet, spec()))
    runs.set_budget(greet, 100)
    with pytest.raises(ValidationError, match=f"no price is known for {CUSTOM}.*set a price override"):
        check_budget(greet, result)


def test_run_budget_in_the_spec(greet):
    runs.set_price(greet, CUSTOM, 1e-3, 1e-3)
    result = estimate(plan_run(greet, spec(budget_usd=0.01)), runs.price_overrides(greet))
    with pytest.raises(ValidationError, match=r"exceeds the spec's budget_usd of \$0.01"):
        check_budget(greet, result)


def test_budget_check_needs_an_editor(greet, person):
    viewer = person("v@example.com", "viewer")
    result = estimate(plan_run(greet, spec(models=["offline/echo"])))
    with pytest.raises(PermissionDeniedError):
        check_budget(viewer, result)
