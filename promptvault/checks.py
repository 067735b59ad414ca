"""The checks a run scores every model output with: the spec models users write, parsed, named and dumped
(how an output is graded against them is `grading.py`)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Callable, Literal, Union

import jsonschema
import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from promptvault.errors import ValidationError

MAX_CHECKS = 50
MODEL_GRADED = frozenset({"llm-judge", "pick-best"})
# Types whose own rule is "score >= threshold"; an explicit `threshold` overrides any type's rule.
DEFAULT_THRESHOLD = {"similar": 0.8, "llm-judge": 0.5}
_SHORT = 30
FENCE = re.compile(r"^```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```$", re.DOTALL)


class _CheckBase(BaseModel):
    """Fields every check has: an optional name, negation, a weight (0 = informational) and a pass threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(default=None, min_length=1, max_length=80)
    negate: bool = False
    weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)


class TextCheck(_CheckBase):
    """A check against one text: its `value`, or the case's expected output when none is given."""

    value: str | None = None
    case_sensitive: bool = True


class EqualsCheck(TextCheck):
    """The output equals the value, both stripped of surrounding whitespace."""

    type: Literal["equals"] = "equals"


class ContainsCheck(TextCheck):
    """The output contains the value."""

    type: Literal["contains"] = "contains"


class StartsWithCheck(TextCheck):
    """The output, stripped of leading whitespace, starts with the value."""

    type: Literal["starts-with"] = "starts-with"


class ValuesCheck(_CheckBase):
    """A check against a list of texts."""

    values: list[str] = Field(min_length=1, max_length=100)
    case_sensitive: bool = True


class ContainsAnyCheck(ValuesCheck):
    """The output contains at least one of the values (score 1 or 0)."""

    type: Literal["contains-any"] = "contains-any"


class ContainsAllCheck(ValuesCheck):
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


def checks_from_yaml(text: str, source: str = "checks") -> list[Any]:
    """The checks' data in YAML (or JSON) text: a list of checks, or a mapping (a run spec) with a `checks:` list;
    [] for none. ValidationError naming the line of a YAML mistake. Parse the result with `parse_checks`."""
    import yaml

    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None)
        raise ValidationError(f"{source}: not valid YAML{line}" + (f" ({problem})" if problem else "")) from None
    if isinstance(data, dict) and "checks" in data:
        data = data["checks"]
    if data is not None and not isinstance(data, list):
        raise ValidationError(f"{source}: expected a YAML list of checks (each line starting with '- '), "
                              "or a mapping with a 'checks:' list")
    return data or []


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
    """A check's data as a mapping with `type`: a bare type name and the compact `{type: value}` form expanded
    (a check already parsed is taken as its data, so parsing is idempotent)."""
    if isinstance(item, _CheckBase):
        return {"type": item.type, **item.model_dump(by_alias=True, exclude={"type"})}
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


def shorten(text: str, limit: int = _SHORT) -> str:
    """Text cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(text: str) -> str:
    """A value as shown in names and details: quoted and shortened."""
    return f'"{shorten(text)}"'


def _target_label(check: Any) -> str:
    """'expected' for a check that compares to the expected output, else its quoted value."""
    return "expected" if check.value is None else quote(check.value)


def _bounds(check: LengthCheck) -> str:
    """'≤ 200', '≥ 10' or '10–200'."""
    if check.min is None:
        return f"≤ {check.max}"
    return f"≥ {check.min}" if check.max is None else f"{check.min}–{check.max}"


def _judge_label(check: Any) -> str:
    """The judge model's name, shortened."""
    return shorten(check.model["model"] if isinstance(check.model, dict) else check.model)


_NAMERS: dict[str, Callable[[Any], str]] = {
    "equals": lambda c: f"equals {_target_label(c)}",
    "contains": lambda c: f"contains {_target_label(c)}",
    "contains-any": lambda c: f"contains any of {shorten(json.dumps(c.values, ensure_ascii=False))}",
    "contains-all": lambda c: f"contains all of {shorten(json.dumps(c.values, ensure_ascii=False))}",
    "starts-with": lambda c: f"starts with {_target_label(c)}",
    "regex": lambda c: f"regex /{shorten(c.pattern)}/",
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
