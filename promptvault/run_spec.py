"""The run spec: what a user writes to run prompt versions × models × test cases (a YAML file or the Compare form)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from promptvault.checks import dump_checks, parse_checks
from promptvault.errors import ValidationError
from promptvault.providers import RESERVED_PARAMS

MAX_SPEC_BYTES = 1024 * 1024
MAX_INLINE_CASES = 10_000
MAX_MODELS = 50
MAX_VERSIONS = 50
# A key in a spec file would end up in Git and in the runs table: refuse anything that looks like one.
_SECRET_PREFIXES = ("sk-", "sk_", "sk-ant-", "gsk_", "xai-", "hf_", "pk-", "rk-", "AIza", "ghp_", "Bearer ")
_LONG_TOKEN = re.compile(r"^[A-Za-z0-9_\-\.]{40,}$")

EXAMPLE_SPEC = """\
# promptvault run compare.yaml   (add --estimate to see calls, tokens and cost without running)
prompt: summarize                 # the prompt's name in the project
versions: [3, main, production]   # version numbers, branches or labels (default: [main])
models:
  - offline/echo                  # calls no network, answers deterministically, costs nothing
  - openai/gpt-4o-mini            # key: the team's stored OpenAI key (never written here)
  - model: openai/llama3          # any OpenAI-compatible server
    api_base: http://127.0.0.1:8000/v1
    key: local-llm                # the label or id of a stored key, optional
dataset: support-tickets          # a dataset of the project ...
# cases:                          # ... or inline cases (variables; `expected` is optional)
#   - {ticket: "My order is late", expected: "shipping"}
repeats: 2                        # calls per cell (1-100)
concurrency: 16                   # calls in flight at once (1-500)
params: {temperature: 0, max_tokens: 200}
timeout: 30                       # seconds per call (at most 600)
cache: true                       # reuse identical answers (default: on when temperature is 0)
budget_usd: 2.50                  # refuse to start, or stop, past this cost
checks:                           # scored on every output when the run ends (see README: Checks)
  - {contains: "shipping"}
  - {type: similar, threshold: 0.8}        # against each case's expected output
  - {type: latency, max_ms: 5000, weight: 0}  # weight 0: shown, does not decide pass/fail
baseline: 12                      # an earlier run to compare pass rates with
"""


def looks_like_secret(value: str) -> bool:
    """Whether a string looks like an API key rather than a key's label or id."""
    value = value.strip()
    return value.startswith(_SECRET_PREFIXES) or bool(_LONG_TOKEN.match(value))


def check_params(value: dict[str, Any]) -> dict[str, Any]:
    """Call params without the runner's own fields or anything that looks like a key (ValueError otherwise)."""
    reserved = sorted(RESERVED_PARAMS & value.keys())
    if reserved:
        raise ValueError(f"'{reserved[0]}' cannot be a param (the runner sets it: models, keys and timeout come from the spec and the vault)")
    if any(isinstance(v, str) and looks_like_secret(v) for v in value.values()):
        raise ValueError("a value looks like an API key; keys live in the vault, never in a spec")
    return value


class ModelSpec(BaseModel):
    """A model to call: a litellm model name, optionally an OpenAI-compatible base URL and a stored key's label or id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, max_length=200)
    api_base: str | None = Field(default=None, max_length=500)
    key: str | int | None = None

    @field_validator("model", "api_base")
    @classmethod
    def _no_secret_text(cls, value: str | None) -> str | None:
        if value is not None and looks_like_secret(value) and "/" not in value:
            raise ValueError("looks like an API key; keys live in the vault, never in a spec")
        return value

    @field_validator("key")
    @classmethod
    def _key_is_a_reference(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str) and (looks_like_secret(value) or len(value) > 100):
            raise ValueError("looks like an API key; give the label or id of a key stored in the vault instead")
        return value

    @property
    def label(self) -> str:
        """How cells and reports name this model (the base URL is added when one is given)."""
        return self.model if self.api_base is None else f"{self.model}@{self.api_base}"


class RunSpec(BaseModel):
    """One run: prompt versions × models × test cases × repeats, with params, limits and an optional budget."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=100)
    versions: list[int | str] = Field(default_factory=lambda: ["main"], min_length=1, max_length=MAX_VERSIONS)
    models: list[ModelSpec] = Field(min_length=1, max_length=MAX_MODELS)
    dataset: str | None = Field(default=None, min_length=1, max_length=100)
    cases: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=MAX_INLINE_CASES)
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=500)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=60, gt=0, le=600)
    cache: bool | None = None
    budget_usd: float | None = Field(default=None, ge=0)
    checks: list[Any] = Field(default_factory=list)
    baseline: int | None = Field(default=None, ge=1)

    @field_validator("models", mode="before")
    @classmethod
    def _names_to_specs(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]  # a single model needs no list
        if isinstance(value, list):
            return [{"model": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("checks", mode="before")
    @classmethod
    def _parse_checks(cls, value: Any) -> Any:
        try:
            return parse_checks(value)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None

    @field_serializer("checks")
    def _dump_checks(self, value: list[Any]) -> list[dict[str, Any]]:
        return dump_checks(value)

    @field_validator("versions", mode="before")
    @classmethod
    def _one_version(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, int)) else value

    @field_validator("params")
    @classmethod
    def _params_hold_no_key(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_params(value)

    @model_validator(mode="after")
    def _dataset_xor_cases(self) -> RunSpec:
        if (self.dataset is None) == (self.cases is None):
            which = "both" if self.dataset is not None else "neither"
            raise ValueError(f"dataset/cases: give either a dataset name or inline cases ({which} given)")
        labels = [m.label for m in self.models]
        duplicate = next((label for label in labels if labels.count(label) > 1), None)
        if duplicate:
            raise ValueError(f"models: '{duplicate}' is listed twice")
        return self

    @property
    def cache_enabled(self) -> bool:
        """Whether calls with the spec's own params use the cache (see `cache_for`)."""
        return self.cache_for(self.params)

    def cache_for(self, params: dict[str, Any]) -> bool:
        """Whether calls with these params use the cache: as the spec says, else when their temperature is 0."""
        return self.cache if self.cache is not None else params.get("temperature") == 0


def parse_spec(data: Any, source: str = "spec") -> RunSpec:
    """A RunSpec from parsed data; ValidationError naming each bad field and its problem on one line."""
    if not isinstance(data, dict):
        raise ValidationError(f"{source}: expected a mapping of fields (prompt, models, dataset, ...)")
    try:
        return RunSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(f"{source}: " + "; ".join(_describe(error) for error in exc.errors())) from None


def load_spec(path: Path | str) -> RunSpec:
    """Read a run spec from a YAML (or JSON) file."""
    import yaml

    path = Path(path)
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise ValidationError(f"{path.name} is larger than {MAX_SPEC_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ValidationError(f"{path.name}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}{line}") from None
    return parse_spec(data, path.name)


def _describe(error: dict) -> str:
    """'models.1.key: looks like an API key ...' (never the offending value, which may be a secret)."""
    location = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    if (not location and ":" in message) or (location == "checks" and message.startswith("checks")):
        return message  # model-level and check errors name their fields themselves
    return f"{location or 'spec'}: {message}"
