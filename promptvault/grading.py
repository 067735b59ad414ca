"""Grading one output: what a check sees of it (`Observed`), each deterministic check's rule, a judge's score
as a result, and the verdict of all of an output's checks (`OutputScore`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jsonschema
from jsonschema.exceptions import best_match
from rapidfuzz.distance import Levenshtein as _lev

from promptvault.checks import (DEFAULT_THRESHOLD, FENCE, Check, CostCheck, IsJsonCheck, JsonSchemaCheck,
                                LatencyCheck, LengthCheck, LevenshteinCheck, RegexCheck, SimilarCheck, TextCheck,
                                ValuesCheck, check_name, is_model_graded, quote, shorten)


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


_JSON_STARTS = frozenset('{["-0123456789tfn')


def _load_json(output: str) -> tuple[Any, str | None]:
    """The output parsed as JSON (inside a Markdown fence or not), or a reason it is not JSON."""
    stripped = output.strip()
    fenced = FENCE.match(stripped)
    text = fenced.group(1).strip() if fenced else stripped
    if not text or text[0] not in _JSON_STARTS:  # most prose fails here, without json's costly exception
        return None, "not valid JSON: it does not start with a JSON value"
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"


Verdict = tuple[bool, float, str]  # passed (by the type's own rule), score 0..1, detail


# How each text check compares the (folded) output to its (folded) target, and how its detail reads.
_TEXT_RULES: dict[str, tuple[Callable[[str, str], bool], str, str]] = {
    "equals": (lambda out, target: out.strip() == target.strip(), "equals", "differs from"),
    "contains": (lambda out, target: target in out, "found", "did not find"),
    "starts-with": (lambda out, target: out.lstrip().startswith(target), "starts with", "does not start with"),
}


def _text_rule(check: TextCheck, output: str, observed: Observed) -> Verdict:
    rule, yes, no = _TEXT_RULES[check.type]
    target = _target(check, observed)
    ok = rule(_fold(check, output), _fold(check, target))
    return ok, float(ok), f"{yes if ok else no} {quote(target)}"


def _values(check: ValuesCheck, output: str, observed: Observed) -> Verdict:
    text = _fold(check, output)
    found = [value for value in check.values if _fold(check, value) in text]
    missing = [value for value in check.values if value not in found]
    if check.type == "contains-any":
        return bool(found), float(bool(found)), f"found {quote(found[0])}" if found else f"found none of {len(check.values)}"
    detail = f"found all {len(found)}" if not missing else f"found {len(found)} of {len(check.values)}; missing {quote(missing[0])}"
    return not missing, len(found) / len(check.values), detail


def _regex(check: RegexCheck, output: str, observed: Observed) -> Verdict:
    match = re.search(check.pattern, output, 0 if check.case_sensitive else re.IGNORECASE)
    return bool(match), float(bool(match)), f"matched {quote(match.group(0))}" if match else f"no match for /{shorten(check.pattern)}/"


def _json(check: IsJsonCheck | JsonSchemaCheck, output: str, observed: Observed) -> Verdict:
    data, problem = _load_json(output)
    if problem is not None or check.type == "is-json":
        return problem is None, float(problem is None), problem or "valid JSON"
    error = best_match(jsonschema.validators.validator_for(check.schema_)(check.schema_).iter_errors(data))
    if error is None:
        return True, 1.0, "matches the schema"
    return False, 0.0, f"{error.json_path}: {shorten(error.message, 160)}"


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
    threshold = check.threshold if check.threshold is not None else DEFAULT_THRESHOLD.get(check.type)
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
