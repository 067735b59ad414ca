"""The checks a run scores every model output with: the spec models users write, and how each is evaluated."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, NamedTuple, Union

import jsonschema
import pydantic
from jsonschema.exceptions import best_match
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rapidfuzz.distance import Levenshtein as _lev

from promptvault.errors import ValidationError

MAX_CHECKS = 50
MODEL_GRADED = frozenset({"llm-judge", "pick-best"})
# Types whose own rule is "score >= threshold"; an explicit `threshold` overrides any type's rule.
_DEFAULT_THRESHOLD = {"similar": 0.8, "llm-judge": 0.5}
_SHORT = 30
_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```$", re.DOTALL)


class _CheckBase(BaseModel):
    """Fields every check has: an optional name, negation, a weight (0 = informational) and a pass threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(default=None, min_length=1, max_length=80)
    negate: bool = False
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)


class _TextCheck(_CheckBase):
    """A check against one text: its `value`, or the case's expected output when none is given."""

    value: str | None = None
    case_sensitive: bool = True


class EqualsCheck(_TextCheck):
    """The output equals the value, both stripped of surrounding whitespace."""

    type: Literal["equals"] = "equals"


class ContainsCheck(_TextCheck):
    """The output contains the value."""

    type: Literal["contains"] = "contains"


class StartsWithCheck(_TextCheck):
    """The output, stripped of leading whitespace, starts with the value."""

    type: Literal["starts-with"] = "starts-with"


class _ValuesCheck(_CheckBase):
    """A check against a list of texts."""

    values: list[str] = Field(min_length=1, max_length=100)
    case_sensitive: bool = True


class ContainsAnyCheck(_ValuesCheck):
    """The output contains at least one of the values (score 1 or 0)."""

    type: Literal["contains-any"] = "contains-any"


class ContainsAllCheck(_ValuesCheck):
    """The output contains every value; the score is the share found."""

    type: Literal["contains-all"] = "contains-all"


class RegexCheck(_CheckBase):
    """A regular expression matches somewhere in the output (`re.search`)."""

    type: Literal["regex"] = "regex"
    pattern: str = Field(max_length=1000)
    case_sensitive: bool = True

    @model_validator(mode="after")
    def _compiles(self) -> RegexCheck:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"bad pattern: {exc}") from None
        return self


class IsJsonCheck(_CheckBase):
    """The output is JSON; a Markdown code fence around it (```json ... ```) is accepted, since models often add one."""

    type: Literal["is-json"] = "is-json"


class JsonSchemaCheck(_CheckBase):
    """The output is JSON (fenced or not, as for is-json) that validates against a JSON Schema."""

    type: Literal["json-schema"] = "json-schema"
    schema_: dict[str, Any] = Field(alias="schema")

    @model_validator(mode="after")
    def _schema_is_valid(self) -> JsonSchemaCheck:
        try:
            jsonschema.validators.validator_for(self.schema_).check_schema(self.schema_)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"bad schema: {exc.message}") from None
        return self


class LengthCheck(_CheckBase):
    """The output's length in characters, or in the provider's output tokens, lies within bounds."""

    type: Literal["length"] = "length"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    unit: Literal["chars", "tokens"] = "chars"

    @model_validator(mode="after")
    def _has_bounds(self) -> LengthCheck:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class LevenshteinCheck(_CheckBase):
    """At most `max_distance` edits from a value (default: the expected output), both stripped; scored by similarity."""

    type: Literal["levenshtein"] = "levenshtein"
    value: str | None = None
    max_distance: int = Field(ge=0)


class SimilarCheck(_CheckBase):
    """Normalized Levenshtein similarity to a value (default: the expected output) reaches the threshold (default 0.8)."""

    type: Literal["similar"] = "similar"
    value: str | None = None


class LatencyCheck(_CheckBase):
    """The call took at most `max_ms` milliseconds."""

    type: Literal["latency"] = "latency"
    max_ms: float = Field(gt=0, allow_inf_nan=False)


class CostCheck(_CheckBase):
    """The call cost at most `max_usd` dollars."""

    type: Literal["cost"] = "cost"
    max_usd: float = Field(ge=0, allow_inf_nan=False)


class _JudgeBase(_CheckBase):
    """A model-graded check: the judge model (a name or a {model, api_base, key} mapping, stored as given)."""

    model: str | dict[str, Any]
    only_if_passed: bool = False

    @field_validator("model")
    @classmethod
    def _names_a_model(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        name = value.get("model") if isinstance(value, dict) else value
        if not isinstance(name, str) or not name.strip():
            raise ValueError("give a model name, or a mapping with a non-empty 'model'")
        return value


class LlmJudgeCheck(_JudgeBase):
    """A judge model scores the output 0..1 against a rubric (passes at the threshold, default 0.5)."""

    type: Literal["llm-judge"] = "llm-judge"
    rubric: str = Field(min_length=1, max_length=4000)


class PickBestCheck(_JudgeBase):
    """A judge model picks the best of the outputs for a case; the winner scores 1 and passes."""

    type: Literal["pick-best"] = "pick-best"
    criteria: str = Field(default="Which answer is best?", min_length=1, max_length=4000)


_ALL = (EqualsCheck, ContainsCheck, ContainsAnyCheck, ContainsAllCheck, StartsWithCheck, RegexCheck, IsJsonCheck,
        JsonSchemaCheck, LengthCheck, LevenshteinCheck, SimilarCheck, LatencyCheck, CostCheck, LlmJudgeCheck, PickBestCheck)
Check = Annotated[Union[_ALL], Field(discriminator="type")]  # noqa: UP007 (a tuple of classes needs Union[])
_MODELS: dict[str, type[_CheckBase]] = {model.model_fields["type"].default: model for model in _ALL}
# The field the compact form `{type: value}` fills; is-json takes no value.
_COMPACT = {"equals": "value", "contains": "value", "starts-with": "value", "similar": "value",
            "contains-any": "values", "contains-all": "values", "regex": "pattern", "json-schema": "schema",
            "length": "max", "levenshtein": "max_distance", "latency": "max_ms", "cost": "max_usd",
            "llm-judge": "rubric", "pick-best": "criteria", "is-json": None}


def parse_checks(data: Any, source: str = "checks") -> list[Check]:
    """Validated, uniquely named checks from parsed YAML/JSON; ValidationError with one line per problem."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValidationError(f"{source}: expected a list of checks, not {type(data).__name__}")
    if len(data) > MAX_CHECKS:
        raise ValidationError(f"{source}: at most {MAX_CHECKS} checks (got {len(data)})")
    checks, problems = [], []
    for index, item in enumerate(data):
        check, item_problems = _parse_one(item, f"{source}.{index}")
        problems.extend(item_problems)
        checks.extend([check] if check is not None else [])
    names = [check.name for check in checks if check.name is not None]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"{source}: two checks are named '{name}'; give one a different name")
    if problems:
        raise ValidationError("\n".join(problems))
    return _named(checks)


def _parse_one(item: Any, where: str) -> tuple[Check | None, list[str]]:
    """One check, or the problems with it, each prefixed by where it is and its type."""
    try:
        data = _normalize(item)
    except ValueError as exc:
        return None, [f"{where}: {exc}"]
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _MODELS:
        return None, [f"{where}: unknown check type {kind!r} (one of: {', '.join(_MODELS)})"]
    try:
        return _MODELS[kind].model_validate(data), []
    except pydantic.ValidationError as exc:
        return None, [_problem(error, f"{where} ({kind})") for error in exc.errors()]


def _normalize(item: Any) -> dict[str, Any]:
    """A check's data as a mapping with `type`: a bare type name and the compact `{type: value}` form expanded."""
    if isinstance(item, str):
        return {"type": item}
    if not isinstance(item, dict):
        raise ValueError(f"expected a check type name or a mapping, not {type(item).__name__}")
    if "type" in item:
        return item
    kinds = [key for key in item if key in _MODELS]
    if len(kinds) > 1:
        raise ValueError(f"give one check type per item (found {', '.join(kinds)})")
    if not kinds:
        if len(item) == 1:
            return {"type": next(iter(item))}  # `{containz: x}`: reported as an unknown type
        raise ValueError(f"missing 'type' (one of: {', '.join(_MODELS)})")
    kind, value = kinds[0], item[kinds[0]]
    rest = {key: val for key, val in item.items() if key != kind}
    if isinstance(value, dict) and kind != "json-schema":
        return {**value, **rest, "type": kind}
    if value is None or (value is True and _COMPACT[kind] is None):
        return {**rest, "type": kind}
    return {**rest, "type": kind, _COMPACT[kind] or "value": value}


def _problem(error: dict, where: str) -> str:
    """'checks.2 (regex): pattern: String should have at most 1000 characters' (one pydantic error, one line)."""
    location = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    return f"{where}: {location}: {message}" if location else f"{where}: {message}"


def _named(checks: list[Check]) -> list[Check]:
    """The checks with a derived name set where none was given, suffixed ' (2)', ' (3)' to keep names unique."""
    taken = {check.name for check in checks if check.name is not None}
    named = []
    for check in checks:
        if check.name is None:
            base = name = _derived_name(check)
            counter = 2
            while name in taken:
                name, counter = f"{base} ({counter})", counter + 1
            taken.add(name)
            check = check.model_copy(update={"name": name})
        named.append(check)
    return named


def dump_checks(checks: list[Check]) -> list[dict[str, Any]]:
    """JSON-safe mappings (defaults left out) that parse_checks turns back into the same checks."""
    return [{"type": check.type, **check.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude={"type"})}
            for check in checks]


def check_name(check: Check) -> str:
    """The check's name: the one given, else one derived from its type and fields."""
    return check.name if check.name is not None else _derived_name(check)


def is_model_graded(check: Check) -> bool:
    """Whether a judge model scores this check (it is evaluated by the judge path, not `evaluate`)."""
    return check.type in MODEL_GRADED


def _short(text: str, limit: int = _SHORT) -> str:
    """Text cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str) -> str:
    """A value as shown in names and details: quoted and shortened."""
    return f'"{_short(text)}"'


def _target_label(check: Any) -> str:
    """'expected' for a check that compares to the expected output, else its quoted value."""
    return "expected" if check.value is None else _quote(check.value)


def _bounds(check: LengthCheck) -> str:
    """'≤ 200', '≥ 10' or '10–200'."""
    if check.min is None:
        return f"≤ {check.max}"
    return f"≥ {check.min}" if check.max is None else f"{check.min}–{check.max}"


def _judge_label(check: Any) -> str:
    """The judge model's name, shortened."""
    return _short(check.model["model"] if isinstance(check.model, dict) else check.model)


_NAMERS: dict[str, Callable[[Any], str]] = {
    "equals": lambda c: f"equals {_target_label(c)}",
    "contains": lambda c: f"contains {_target_label(c)}",
    "contains-any": lambda c: f"contains any of {_short(json.dumps(c.values, ensure_ascii=False))}",
    "contains-all": lambda c: f"contains all of {_short(json.dumps(c.values, ensure_ascii=False))}",
    "starts-with": lambda c: f"starts with {_target_label(c)}",
    "regex": lambda c: f"regex /{_short(c.pattern)}/",
    "is-json": lambda c: "is-json",
    "json-schema": lambda c: "json-schema",
    "length": lambda c: f"length {_bounds(c)} {c.unit}",
    "levenshtein": lambda c: f"levenshtein ≤ {c.max_distance} from {_target_label(c)}",
    "similar": lambda c: f"similar to {_target_label(c)}",
    "latency": lambda c: f"latency ≤ {c.max_ms:g} ms",
    "cost": lambda c: f"cost ≤ ${c.max_usd:g}",
    "llm-judge": lambda c: f"llm-judge ({_judge_label(c)})",
    "pick-best": lambda c: f"pick-best ({_judge_label(c)})",
}


def _derived_name(check: Check) -> str:
    """A short name from the check's type and fields, e.g. 'contains "refund"' or 'not regex /^A/'."""
    return ("not " if check.negate else "") + _NAMERS[check.type](check)


@dataclass(frozen=True)
class Observed:
    """What a check sees of one output: the text or the call's error, the case's expected output, and measurements."""

    output: str | None
    error: str | None
    expected: str | None
    latency_ms: float | None = None
    cost_usd: float | None = None
    output_tokens: int | None = None


class CheckResult(NamedTuple):
    """One check's verdict on one output; `error` set means it could not be evaluated (and did not pass).

    A named tuple, not a dataclass: a scored run holds one per output and check, and this is the cheapest
    immutable record to build and read back by the hundred thousand."""

    name: str
    type: str
    passed: bool
    score: float
    weight: float
    detail: str = ""
    error: str | None = None
    reasoning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping of the result."""
        return dict(self._asdict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """A result from `to_dict` output (unknown keys ignored)."""
        return cls(**{key: value for key, value in data.items() if key in cls._fields})


class _CannotEvaluate(Exception):
    """The check cannot judge this output (e.g. the case has no expected output); the message says why."""


def _text(value: Any) -> str:
    """Any output or expected value as text (None → '', structures as JSON)."""
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else str(value)


def _fold(check: Any, text: str) -> str:
    """Text as compared: case-folded unless the check is case-sensitive."""
    return text if check.case_sensitive else text.casefold()


def _target(check: Any, observed: Observed) -> str:
    """The check's value, else the case's expected output."""
    if check.value is not None:
        return check.value
    if observed.expected is None:
        raise _CannotEvaluate("this case has no expected output")
    return _text(observed.expected)


def _load_json(output: str) -> tuple[Any, str | None]:
    """The output parsed as JSON (inside a Markdown fence or not), or a reason it is not JSON."""
    fenced = _FENCE.match(output.strip())
    try:
        return json.loads(fenced.group(1) if fenced else output), None
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"


Verdict = tuple[bool, float, str]  # passed (by the type's own rule), score 0..1, detail


# How each text check compares the (folded) output to its (folded) target, and how its detail reads.
_TEXT_RULES: dict[str, tuple[Callable[[str, str], bool], str, str]] = {
    "equals": (lambda out, target: out.strip() == target.strip(), "equals", "differs from"),
    "contains": (lambda out, target: target in out, "found", "did not find"),
    "starts-with": (lambda out, target: out.lstrip().startswith(target), "starts with", "does not start with"),
}


def _text_rule(check: _TextCheck, output: str, observed: Observed) -> Verdict:
    rule, yes, no = _TEXT_RULES[check.type]
    target = _target(check, observed)
    ok = rule(_fold(check, output), _fold(check, target))
    return ok, float(ok), f"{yes if ok else no} {_quote(target)}"


def _values(check: _ValuesCheck, output: str, observed: Observed) -> Verdict:
    text = _fold(check, output)
    found = [value for value in check.values if _fold(check, value) in text]
    missing = [value for value in check.values if value not in found]
    if check.type == "contains-any":
        return bool(found), float(bool(found)), f"found {_quote(found[0])}" if found else f"found none of {len(check.values)}"
    detail = f"found all {len(found)}" if not missing else f"found {len(found)} of {len(check.values)}; missing {_quote(missing[0])}"
    return not missing, len(found) / len(check.values), detail


def _regex(check: RegexCheck, output: str, observed: Observed) -> Verdict:
    match = re.search(check.pattern, output, 0 if check.case_sensitive else re.IGNORECASE)
    return bool(match), float(bool(match)), f"matched {_quote(match.group(0))}" if match else f"no match for /{_short(check.pattern)}/"


def _json(check: IsJsonCheck | JsonSchemaCheck, output: str, observed: Observed) -> Verdict:
    data, problem = _load_json(output)
    if problem is not None or check.type == "is-json":
        return problem is None, float(problem is None), problem or "valid JSON"
    error = best_match(jsonschema.validators.validator_for(check.schema_)(check.schema_).iter_errors(data))
    if error is None:
        return True, 1.0, "matches the schema"
    return False, 0.0, f"{error.json_path}: {_short(error.message, 160)}"


def _length(check: LengthCheck, output: str, observed: Observed) -> Verdict:
    if check.unit == "tokens" and observed.output_tokens is None:
        raise _CannotEvaluate("no token count for this output")
    size = observed.output_tokens if check.unit == "tokens" else len(output)
    if check.min is not None and size < check.min:
        return False, 0.0, f"{size} {check.unit} < {check.min}"
    if check.max is not None and size > check.max:
        return False, 0.0, f"{size} {check.unit} > {check.max}"
    return True, 1.0, f"{size} {check.unit}"


def _distance(check: LevenshteinCheck | SimilarCheck, output: str, observed: Observed) -> Verdict:
    a, b = output.strip(), _target(check, observed).strip()
    score = _lev.normalized_similarity(a, b)
    if check.type == "similar":
        return False, score, ""  # passed comes from the threshold (default 0.8) in _finish
    distance = _lev.distance(a, b)
    ok = distance <= check.max_distance
    return ok, score, f"distance {distance} {'≤' if ok else '>'} {check.max_distance}"


def _measured(check: LatencyCheck | CostCheck, output: str, observed: Observed) -> Verdict:
    if check.type == "latency":
        value, limit, shown = observed.latency_ms, check.max_ms, "{:.0f} ms"
    else:
        value, limit, shown = observed.cost_usd, check.max_usd, "${:.4g}"
    if value is None:
        raise _CannotEvaluate(f"no {check.type} recorded for this output")
    ok = value <= limit
    return ok, float(ok), f"{shown.format(value)} {'≤' if ok else '>'} {shown.format(limit)}"


_EVALUATORS: dict[str, Callable[[Any, str, Observed], Verdict]] = {
    "equals": _text_rule, "contains": _text_rule, "starts-with": _text_rule, "contains-any": _values,
    "contains-all": _values, "regex": _regex, "is-json": _json, "json-schema": _json, "length": _length,
    "levenshtein": _distance, "similar": _distance, "latency": _measured, "cost": _measured,
}


def evaluate(check: Check, observed: Observed) -> CheckResult:
    """One deterministic check's result on one output; never raises for any output (problems set `error`)."""
    if is_model_graded(check):
        raise ValueError(f"{check.type} is model-graded: build its result with judged()")
    if observed.error is not None:
        return _failed(check, "no output: the call failed")
    try:
        return _finish(check, *_EVALUATORS[check.type](check, _text(observed.output), observed))
    except _CannotEvaluate as exc:
        return _failed(check, str(exc))
    except Exception as exc:  # a check must never take a run down: report it on the result instead
        return _failed(check, f"check failed: {exc}")


def judged(check: Check, score: float | None, reasoning: str | None, error: str | None = None) -> CheckResult:
    """A model-graded check's result from its judge's 0..1 score (pick-best: 1 for the winner); `error` fails it."""
    if not is_model_graded(check):
        raise ValueError(f"{check.type} is not model-graded: use evaluate()")
    usable = isinstance(score, (int, float)) and math.isfinite(score) and 0 <= score <= 1
    if error is None and not usable:
        error = f"the judge gave no usable score ({score!r})"
    if error is not None:
        return _failed(check, error)._replace(reasoning=reasoning)
    if check.type == "pick-best":
        won = score >= 1
        return _finish(check, won, float(score), "picked as best" if won else "not picked")._replace(reasoning=reasoning)
    return _finish(check, False, float(score), "")._replace(reasoning=reasoning)


def _finish(check: Check, passed: bool, score: float, detail: str) -> CheckResult:
    """The result after the threshold (explicit or the type's default) and negation."""
    score = min(1.0, max(0.0, float(score)))
    threshold = check.threshold if check.threshold is not None else _DEFAULT_THRESHOLD.get(check.type)
    if threshold is not None:
        passed = score >= threshold
        rule = f"score {score:.3g} {'≥' if passed else '<'} {threshold:.3g}"
        detail = f"{detail}; {rule}" if detail else rule
    if check.negate:
        passed, score = not passed, 1.0 - score
    return CheckResult(check_name(check), check.type, passed, score, check.weight, detail)


def _failed(check: Check, error: str) -> CheckResult:
    """A result for a check that could not be evaluated: failed with score 0, whatever its negation."""
    return CheckResult(check_name(check), check.type, False, 0.0, check.weight, error=error)


@dataclass(frozen=True)
class OutputScore:
    """All check results for one output: passed when every weighted check passed; score is their weighted mean."""

    passed: bool
    score: float | None
    results: list[CheckResult]

    def failed_names(self) -> list[str]:
        """Names of the weighted checks that did not pass (informational ones never fail an output)."""
        return [result.name for result in self.results if result.weight > 0 and not result.passed]


def combine(results: list[CheckResult]) -> OutputScore:
    """The verdict on one output from its check results (weight 0 results are shown but decide nothing)."""
    passed, total, weighted = True, 0.0, 0.0
    for result in results:
        if result.weight > 0:
            passed = passed and result.passed
            total += result.weight
            weighted += result.score * result.weight
    return OutputScore(passed, weighted / total if total else None, list(results))
