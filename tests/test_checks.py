"""Checks and grading: one table of verdicts covering every type, one of refused specs, and the rules around them."""

from __future__ import annotations

import json

import pytest

from promptvault.checks import (
    MODEL_GRADED,
    ContainsAllCheck,
    ContainsAnyCheck,
    ContainsCheck,
    CostCheck,
    EqualsCheck,
    IsJsonCheck,
    JsonSchemaCheck,
    LatencyCheck,
    LengthCheck,
    LevenshteinCheck,
    LlmJudgeCheck,
    PickBestCheck,
    RegexCheck,
    SimilarCheck,
    StartsWithCheck,
    check_name,
    dump_checks,
    is_model_graded,
    parse_checks,
)
from promptvault.errors import ValidationError
from promptvault.grading import CheckResult, Observed, combine, evaluate, judged

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}
JUDGE = {"type": "llm-judge", "model": "openai/gpt-4o-mini", "rubric": "Is it polite?"}
PICK = {"type": "pick-best", "model": {"model": "openai/llama3", "api_base": "http://127.0.0.1:8000/v1", "key": "local"}}


def seen(output, expected=None, **measures) -> Observed:
    """An output of a successful call."""
    return Observed(output=output, error=None, expected=expected, **measures)


def one(data):
    """The single check `data` parses to."""
    return parse_checks([data])[0]


VERDICTS = [
    # equals
    ("equals expected, stripped", "equals", seen(" Paris\n", "Paris"), True, 1.0),
    ("equals is case-sensitive", "equals", seen("paris", "Paris"), False, 0.0),
    ("equals any case", {"equals": "PARIS", "case_sensitive": False}, seen("paris"), True, 1.0),
    ("equals a value, not expected", {"equals": "Rome"}, seen("Rome", "Paris"), True, 1.0),
    ("not equals", {"equals": "Rome", "negate": True}, seen("Paris"), True, 1.0),
    # contains
    ("contains", {"contains": "refund"}, seen("We sent a refund."), True, 1.0),
    ("contains is case-sensitive", {"contains": "Refund"}, seen("a refund"), False, 0.0),
    ("contains any case", {"contains": "Refund", "case_sensitive": False}, seen("a REFUND"), True, 1.0),
    ("contains expected", {"type": "contains"}, seen("the answer is 42", "42"), True, 1.0),
    ("not contains", {"contains": "sorry", "negate": True}, seen("sorry about that"), False, 0.0),
    ("contains, threshold 0 always passes", {"contains": "x", "threshold": 0}, seen("abc"), True, 0.0),
    # contains-any / contains-all
    ("contains-any hit", {"contains-any": ["refund", "return"]}, seen("return it"), True, 1.0),
    ("contains-any miss", {"contains-any": ["refund", "return"]}, seen("keep it"), False, 0.0),
    ("contains-any any case", {"contains-any": ["REFUND"], "case_sensitive": False}, seen("refund"), True, 1.0),
    ("contains-all partial", {"contains-all": ["a", "b", "c", "d"]}, seen("a b"), False, 0.5),
    ("contains-all all, any case", {"contains-all": ["A", "B"], "case_sensitive": False}, seen("a b"), True, 1.0),
    ("not contains-all partial", {"contains-all": ["a", "b", "c", "d"], "negate": True}, seen("a b c"), True, 0.25),
    ("contains-all threshold", {"contains-all": ["a", "b", "c", "d"], "threshold": 0.5}, seen("a b"), True, 0.5),
    # starts-with
    ("starts-with after whitespace", {"starts-with": "Dear"}, seen("\n  Dear Ann"), True, 1.0),
    ("starts-with expected, any case", {"type": "starts-with", "case_sensitive": False}, seen("YES, sure", "yes"), True, 1.0),
    ("starts-with miss", {"starts-with": "Dear"}, seen("Hi Dear"), False, 0.0),
    # regex
    ("regex full match", {"regex": r"^\d{3}-\d{4}$"}, seen("555-1234"), True, 1.0),
    ("regex miss", {"regex": "^A"}, seen("Banana"), False, 0.0),
    ("regex any case", {"regex": "^a", "case_sensitive": False}, seen("Apple"), True, 1.0),
    ("regex searches", {"regex": "b+c"}, seen("abbbcd"), True, 1.0),
    ("not regex", {"regex": "error", "negate": True}, seen("all fine"), True, 1.0),
    # is-json
    ("is-json object", "is-json", seen('{"a": 1}'), True, 1.0),
    ("is-json json fence", "is-json", seen('```json\n{"a": 1}\n```'), True, 1.0),
    ("is-json bare fence", "is-json", seen("```\n[1, 2]\n```\n"), True, 1.0),
    ("is-json prose", "is-json", seen("Sure! {a: 1}"), False, 0.0),
    ("not is-json", {"type": "is-json", "negate": True}, seen("plain text"), True, 1.0),
    # json-schema
    ("json-schema valid", {"json-schema": SCHEMA}, seen('{"name": "Ann", "age": 3}'), True, 1.0),
    ("json-schema fenced", {"json-schema": SCHEMA}, seen('```json\n{"name": "Ann"}\n```'), True, 1.0),
    ("json-schema wrong type", {"json-schema": SCHEMA}, seen('{"name": "Ann", "age": "3"}'), False, 0.0),
    ("json-schema missing field", {"json-schema": SCHEMA}, seen("{}"), False, 0.0),
    ("json-schema not JSON", {"json-schema": SCHEMA}, seen("name: Ann"), False, 0.0),
    # length
    ("length within", {"length": {"min": 2, "max": 5}}, seen("abc"), True, 1.0),
    ("length at max", {"length": 3}, seen("abc"), True, 1.0),
    ("length too long", {"length": 3}, seen("abcd"), False, 0.0),
    ("length too short", {"type": "length", "min": 5}, seen("abc"), False, 0.0),
    ("length in tokens", {"type": "length", "max": 10, "unit": "tokens"}, seen("x" * 100, output_tokens=8), True, 1.0),
    ("length in tokens, over", {"type": "length", "max": 10, "unit": "tokens"}, seen("x", output_tokens=11), False, 0.0),
    # levenshtein (kitten → sitting: 3 edits of 7)
    ("levenshtein within", {"levenshtein": 3}, seen("kitten", "sitting"), True, 4 / 7),
    ("levenshtein over", {"levenshtein": 2}, seen("kitten", "sitting"), False, 4 / 7),
    ("levenshtein two empty strings", {"type": "levenshtein", "value": "", "max_distance": 0}, seen("  "), True, 1.0),
    ("levenshtein threshold", {"levenshtein": 0, "threshold": 0.5}, seen("kitten", "sitting"), True, 4 / 7),
    # similar
    ("similar default 0.8", "similar", seen("colour", "color"), True, 5 / 6),
    ("similar below 0.8", "similar", seen("kitten", "sitting"), False, 4 / 7),
    ("similar threshold", {"similar": "sitting", "threshold": 0.5}, seen("kitten"), True, 4 / 7),
    ("not similar", {"type": "similar", "negate": True}, seen("kitten", "sitting"), True, 3 / 7),
    ("similar identical", {"similar": "same"}, seen("same\n"), True, 1.0),
    # latency / cost
    ("latency under", {"latency": 2000}, seen("x", latency_ms=1999.5), True, 1.0),
    ("latency at bound", {"latency": 2000}, seen("x", latency_ms=2000), True, 1.0),
    ("latency over", {"latency": 2000}, seen("x", latency_ms=2000.1), False, 0.0),
    ("cost at bound", {"cost": 0.01}, seen("x", cost_usd=0.01), True, 1.0),
    ("cost over", {"cost": 0.01}, seen("x", cost_usd=0.02), False, 0.0),
    ("cost free", {"cost": 0}, seen("x", cost_usd=0.0), True, 1.0),
    ("not latency", {"latency": 100, "negate": True}, seen("x", latency_ms=500), True, 1.0),
]


@pytest.mark.parametrize("data, observed, passed, score", [row[1:] for row in VERDICTS], ids=[row[0] for row in VERDICTS])
def test_evaluate_verdict(data, observed, passed, score):
    result = evaluate(one(data), observed)
    assert result.error is None
    assert (result.passed, result.score) == (passed, pytest.approx(score))


def test_evaluate_covers_every_deterministic_type():
    covered = {one(row[1]).type for row in VERDICTS}
    assert covered == {"equals", "contains", "contains-any", "contains-all", "starts-with", "regex", "is-json",
                       "json-schema", "length", "levenshtein", "similar", "latency", "cost"}


DETAILS = [
    ({"contains": "refund"}, seen("a refund"), 'found "refund"'),
    ({"contains-all": ["a", "b", "z"]}, seen("a b"), 'found 2 of 3; missing "z"'),
    ({"levenshtein": 2}, seen("kitten", "sitting"), "distance 3 > 2"),
    ({"json-schema": SCHEMA}, seen('{"name": "Ann", "age": "3"}'), "$.age: '3' is not of type 'integer'"),
    ({"json-schema": SCHEMA}, seen("nope"), "not valid JSON: Expecting value"),
    ({"length": 3}, seen("abcd"), "4 chars > 3"),
    ({"latency": 2000}, seen("x", latency_ms=2500), "2500 ms > 2000 ms"),
    ("similar", seen("colour", "color"), "score 0.833 ≥ 0.8"),
]


@pytest.mark.parametrize("data, observed, detail", DETAILS)
def test_evaluate_detail_says_why(data, observed, detail):
    assert evaluate(one(data), observed).detail.startswith(detail)


REFUSED = [
    ("bad regex", [{"contains": "a"}, {"regex": "[a"}], "checks.1 (regex): bad pattern: unterminated character set at position 0"),
    ("invalid JSON Schema", [{"json-schema": {"type": 12}}], "checks.0 (json-schema): bad schema: 12 is not valid"),
    ("unknown type", ["containz"], "checks.0: unknown check type 'containz' (one of: equals, contains, "),
    ("unknown compact type", [{"containz": "x"}], "checks.0: unknown check type 'containz'"),
    ("unknown field", [{"type": "contains", "valeu": "x"}], "checks.0 (contains): valeu: unknown field (check the spelling)"),
    ("length without bounds", ["is-json", {"type": "length", "unit": "tokens"}], "checks.1 (length): give min, max or both"),
    ("length min > max", [{"length": {"min": 5, "max": 2}}], "checks.0 (length): min 5 is greater than max 2"),
    ("negative weight", [{"contains": "a", "weight": -1}], "checks.0 (contains): weight: Input should be greater than or equal to 0"),
    ("threshold 1.5", [{"similar": "a", "threshold": 1.5}], "checks.0 (similar): threshold: Input should be less than or equal to 1"),
    ("missing rubric", [{"type": "llm-judge", "model": "openai/gpt-4o-mini"}], "checks.0 (llm-judge): rubric: Field required"),
    ("judge without a model", [{"type": "pick-best", "model": {"api_base": "http://h"}}], "checks.0 (pick-best): model: give a model name"),
    ("judge with empty model", [{**JUDGE, "model": " "}], "checks.0 (llm-judge): model: give a model name"),
    ("duplicate names", [{"contains": "a", "name": "x"}, {"contains": "b", "name": "x"}],
     "checks: two checks are named 'x'; give one a different name"),
    ("more than 50", ["is-json"] * 51, "checks: at most 50 checks (got 51)"),
    ("not a list", {"contains": "a"}, "checks: expected a list of checks"),
    ("item not a mapping", [42], "checks.0: expected a check type name or a mapping"),
    ("two types in one item", [{"contains": "a", "regex": "b"}], "checks.0: give one check type per item (found contains, regex)"),
    ("no type", [{"value": "a", "negate": True}], "checks.0: missing 'type'"),
    ("levenshtein without max_distance", ["levenshtein"], "checks.0 (levenshtein): max_distance: Field required"),
    ("no values", [{"contains-any": []}], "checks.0 (contains-any): values: List should have at least 1 item"),
    ("pattern too long", [{"regex": "a" * 1001}], "checks.0 (regex): pattern: String should have at most 1000 characters"),
    ("latency 0", [{"latency": 0}], "checks.0 (latency): max_ms: Input should be greater than 0"),
    ("negative cost", [{"cost": -0.5}], "checks.0 (cost): max_usd: Input should be greater than or equal to 0"),
    ("name too long", [{"contains": "a", "name": "n" * 81}], "checks.0 (contains): name: String should have at most 80 characters"),
    ("is-json given a value", [{"is-json": "yes"}], "checks.0 (is-json): value: unknown field"),
]


@pytest.mark.parametrize("data, message", [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_parse_checks_refusal_names_the_check_and_problem(data, message):
    with pytest.raises(ValidationError) as caught:
        parse_checks(data)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text and "pydantic" not in text


def test_parse_checks_one_line_per_problem():
    with pytest.raises(ValidationError) as caught:
        parse_checks([{"regex": "("}, "is-json", "containz", {"type": "length", "min": -1}], source="spec.checks")
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["spec.checks.0 (regex)", "spec.checks.2", "spec.checks.3 (length)"]


def test_parse_checks_none_is_no_checks():
    assert parse_checks(None) == [] and parse_checks([]) == []


SHORTHANDS = [
    ("is-json", IsJsonCheck, {}),
    ("equals", EqualsCheck, {"value": None}),
    ("similar", SimilarCheck, {"value": None}),
    ({"contains": "refund"}, ContainsCheck, {"value": "refund"}),
    ({"equals": "Paris"}, EqualsCheck, {"value": "Paris"}),
    ({"starts-with": "Dear"}, StartsWithCheck, {"value": "Dear"}),
    ({"regex": "^A"}, RegexCheck, {"pattern": "^A"}),
    ({"contains-any": ["a", "b"]}, ContainsAnyCheck, {"values": ["a", "b"]}),
    ({"contains-all": ["a", "b"]}, ContainsAllCheck, {"values": ["a", "b"]}),
    ({"json-schema": SCHEMA}, JsonSchemaCheck, {"schema_": SCHEMA}),
    ({"latency": 2000}, LatencyCheck, {"max_ms": 2000}),
    ({"cost": 0.01}, CostCheck, {"max_usd": 0.01}),
    ({"levenshtein": 3}, LevenshteinCheck, {"max_distance": 3, "value": None}),
    ({"length": 200}, LengthCheck, {"max": 200, "min": None}),
    ({"length": {"min": 1, "unit": "tokens"}}, LengthCheck, {"min": 1, "unit": "tokens"}),
    ({"contains": "refund", "negate": True, "weight": 0}, ContainsCheck, {"value": "refund", "negate": True, "weight": 0}),
    ({"is-json": None}, IsJsonCheck, {}),
    ({"type": "json-schema", "schema": SCHEMA}, JsonSchemaCheck, {"schema_": SCHEMA}),
    ({"type": "json-schema", "schema_": SCHEMA}, JsonSchemaCheck, {"schema_": SCHEMA}),
    ({"llm-judge": "Is it polite?", "model": "openai/gpt-4o-mini"}, LlmJudgeCheck, {"rubric": "Is it polite?"}),
    (PICK, PickBestCheck, {"model": PICK["model"], "criteria": "Which answer is best?"}),
]


@pytest.mark.parametrize("data, model, fields", SHORTHANDS)
def test_parse_checks_shorthand(data, model, fields):
    check = one(data)
    assert type(check) is model
    assert {name: getattr(check, name) for name in fields} == fields


def test_dump_checks_round_trips():
    checks = parse_checks([row[0] for row in SHORTHANDS[:16]] + [JUDGE, {**PICK, "only_if_passed": True, "threshold": 0.5}])
    dumped = json.loads(json.dumps(dump_checks(checks)))
    assert parse_checks(dumped) == checks
    assert dumped[9] == {"type": "json-schema", "name": "json-schema", "schema": SCHEMA}


NAMES = [
    ("equals", "equals expected"),
    ({"equals": "Paris"}, 'equals "Paris"'),
    ({"contains": "refund"}, 'contains "refund"'),
    ({"contains": "refund", "negate": True}, 'not contains "refund"'),
    ({"contains-any": ["a", "b"]}, 'contains any of ["a", "b"]'),
    ({"regex": "^A"}, "regex /^A/"),
    ("is-json", "is-json"),
    ({"json-schema": SCHEMA}, "json-schema"),
    ({"length": 200}, "length ≤ 200 chars"),
    ({"length": {"min": 10, "max": 20, "unit": "tokens"}}, "length 10–20 tokens"),
    ({"latency": 2000}, "latency ≤ 2000 ms"),
    ({"cost": 0.01}, "cost ≤ $0.01"),
    ({"levenshtein": 3}, "levenshtein ≤ 3 from expected"),
    ("similar", "similar to expected"),
    (JUDGE, "llm-judge (openai/gpt-4o-mini)"),
    (PICK, "pick-best (openai/llama3)"),
    ({"contains": "x" * 100}, 'contains "' + "x" * 29 + '…"'),
    ({"contains": "refund", "name": "mentions refunds"}, "mentions refunds"),
]


@pytest.mark.parametrize("data, name", NAMES)
def test_parse_checks_names(data, name):
    assert one(data).name == name


def test_parse_checks_suffixes_derived_duplicates():
    checks = parse_checks(["is-json", "is-json", {"type": "is-json", "name": "is-json (2)"}, "is-json"])
    assert [c.name for c in checks] == ["is-json", "is-json (3)", "is-json (2)", "is-json (4)"]


def test_check_name_derives_for_unparsed_checks():
    assert check_name(ContainsCheck(value="a", negate=True)) == 'not contains "a"'
    assert check_name(JsonSchemaCheck(schema_={"type": "object"})) == "json-schema"


DETERMINISTIC = [
    "equals", "similar", "is-json", {"contains": "a"}, {"contains-any": ["a"]}, {"contains-all": ["a", "b"]},
    {"starts-with": "a"}, {"regex": "(a+)+$"}, {"json-schema": SCHEMA}, {"length": 5}, {"levenshtein": 2},
    {"latency": 10}, {"cost": 1}, {"type": "equals", "negate": True}, {"type": "length", "max": 3, "unit": "tokens"},
]
AWKWARD = [
    ("no output", Observed(None, None, "a")),
    ("failed call", Observed(None, "timeout", "a")),
    ("failed call with text", Observed("partial", "HTTP 500", "a")),
    ("huge output", Observed("[" * 200_000 + "b" * 500_000, None, "a" * 50)),
    ("not JSON", Observed("{'a': 1,}", None, "a")),
    ("number expected", Observed("42", None, 42)),
    ("structured expected", Observed('{"a": 1}', None, {"a": 1})),
    ("no expected", Observed("a", None, None)),
    ("non-string output", Observed(["a"], None, "a")),
]


@pytest.mark.parametrize("data", DETERMINISTIC)
@pytest.mark.parametrize("observed", [row[1] for row in AWKWARD], ids=[row[0] for row in AWKWARD])
def test_evaluate_never_raises(data, observed):
    result = evaluate(one(data), observed)
    assert 0.0 <= result.score <= 1.0
    if result.error is not None:
        assert (result.passed, result.score) == (False, 0.0)


@pytest.mark.parametrize("data", DETERMINISTIC)
def test_evaluate_failed_call(data):
    result = evaluate(one(data), Observed("partial", "HTTP 500", "a", latency_ms=1, cost_usd=0, output_tokens=1))
    assert (result.passed, result.score, result.error) == (False, 0.0, "no output: the call failed")


EXPECTING = ["equals", "similar", {"type": "contains"}, {"type": "starts-with"}, {"levenshtein": 1},
             {"type": "equals", "negate": True}, {"type": "contains", "negate": True, "threshold": 0}]


@pytest.mark.parametrize("data", EXPECTING)
def test_evaluate_without_expected_output_is_an_error_even_negated(data):
    result = evaluate(one(data), seen("anything"))
    assert (result.passed, result.score, result.error) == (False, 0.0, "this case has no expected output")


MISSING_MEASURES = [
    ({"type": "length", "max": 3, "unit": "tokens"}, "no token count for this output"),
    ({"latency": 10, "negate": True}, "no latency recorded for this output"),
    ({"cost": 1}, "no cost recorded for this output"),
]


@pytest.mark.parametrize("data, error", MISSING_MEASURES)
def test_evaluate_without_a_measurement_is_an_error(data, error):
    result = evaluate(one(data), seen("abc"))
    assert (result.passed, result.error) == (False, error)


def test_evaluate_reports_a_check_that_breaks():
    result = evaluate(one({"json-schema": {"$ref": "#/definitions/missing"}}), seen("{}"))
    assert result.passed is False and result.error.startswith("check failed: ")


def test_evaluate_refuses_model_graded_checks():
    assert MODEL_GRADED == {"llm-judge", "pick-best"}
    assert is_model_graded(one(JUDGE)) and not is_model_graded(one("is-json"))
    with pytest.raises(ValueError):
        evaluate(one(JUDGE), seen("x"))
    with pytest.raises(ValueError):
        judged(one("is-json"), 1.0, None)


JUDGED = [
    # check, judge score, judge error, passed, score, error expected
    (JUDGE, 0.5, None, True, 0.5, False),
    (JUDGE, 0.49, None, False, 0.49, False),
    ({**JUDGE, "threshold": 0.9}, 0.8, None, False, 0.8, False),
    ({**JUDGE, "threshold": 0.2}, 0.3, None, True, 0.3, False),
    ({**JUDGE, "negate": True}, 0.2, None, True, 0.8, False),
    ({**JUDGE, "negate": True}, None, "judge said nonsense", False, 0.0, True),
    (JUDGE, None, None, False, 0.0, True),
    (JUDGE, 1.7, None, False, 0.0, True),
    (JUDGE, float("nan"), None, False, 0.0, True),
    (PICK, 1.0, None, True, 1.0, False),
    (PICK, 0.0, None, False, 0.0, False),
    ({**PICK, "negate": True}, 0.0, None, True, 1.0, False),
    (PICK, 1.0, "the judge call failed", False, 0.0, True),
]


@pytest.mark.parametrize("data, score, error, passed, final, has_error", JUDGED)
def test_judged(data, score, error, passed, final, has_error):
    result = judged(one(data), score, "because", error)
    assert (result.passed, result.score, result.error is not None) == (passed, pytest.approx(final), has_error)
    assert result.reasoning == "because" and result.weight == 1.0


def test_judged_detail_names_the_rule():
    assert judged(one(JUDGE), 0.7, None).detail == "score 0.7 ≥ 0.5"


COMBINED = [
    # (passed, score, weight) of each result → output passed, score, failed names
    ([(True, 1.0, 2), (False, 0.0, 1)], False, 2 / 3, ["c1"]),
    ([(True, 1.0, 1), (False, 0.2, 0)], True, 1.0, []),
    ([(True, 0.5, 1), (True, 1.0, 3)], True, 0.875, []),
    ([(False, 0.0, 0)], True, None, []),
    ([], True, None, []),
]


@pytest.mark.parametrize("rows, passed, score, failed", COMBINED)
def test_combine(rows, passed, score, failed):
    results = [CheckResult(f"c{i}", "contains", ok, value, weight) for i, (ok, value, weight) in enumerate(rows)]
    combined = combine(results)
    assert (combined.passed, combined.score, combined.failed_names()) == (passed, pytest.approx(score), failed)
    assert combined.results == results


def test_check_result_round_trips_through_a_dict():
    result = judged(one(JUDGE), 0.9, "polite")
    data = json.loads(json.dumps(result.to_dict()))
    assert CheckResult.from_dict({**data, "added_later": 1}) == result


def test_parse_checks_takes_checks_already_parsed():
    parsed = parse_checks(["equals", {"json-schema": SCHEMA}, {"contains": "x", "name": "mine"}, JUDGE])
    assert parse_checks(parsed) == parsed
    assert parse_checks([parsed[0], "equals"])[1].name == "equals expected (2)"
