"""Prompt templates: `{{ variable }}` text or chat messages, rendered in the metered Jinja2 sandbox."""

from collections.abc import Mapping
from contextlib import contextmanager

from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from promptvault.errors import TemplateError, TemplateSecurityError, ValidationError
from promptvault.sandbox import MAX_OUTPUT_CHARS, compile_template, metered

MAX_TEMPLATE_CHARS = 262_144  # all the text of one prompt
ROLES = frozenset({"system", "user", "assistant"})


def _prepare_all(content) -> list:
    """_prepare for each text of a prompt, validated; a chat's errors name the message (from 1)."""
    if isinstance(content, str):
        texts = [content]
    elif isinstance(content, list):
        for index, message in enumerate(content):
            if not (isinstance(message, dict) and message.keys() == {"role", "content"}
                    and message["role"] in ROLES and isinstance(message["content"], str)):
                raise ValidationError(f"message {index + 1}: expected {{'role': system|user|assistant, 'content': str}}")
        texts = [message["content"] for message in content]
    else:
        raise ValidationError("prompt content must be a str or a list of chat messages")
    if sum(map(len, texts)) > MAX_TEMPLATE_CHARS:
        raise ValidationError(f"prompt template exceeds {MAX_TEMPLATE_CHARS} characters")
    prepared = []
    for index, text in enumerate(texts):
        try:
            prepared.append(compile_template(text))
        except TemplateError as error:
            raise TemplateError(f"message {index + 1}, {error}" if isinstance(content, list) else str(error)) from None
    return prepared


def extract_variables(content) -> list[str]:
    """The sorted variables a text prompt or a list of chat messages uses."""
    return sorted(frozenset().union(*(names for _, names in _prepare_all(content))))


@contextmanager
def _render_errors():
    """Turn whatever a render raises into our named errors, without Python internals."""
    try:
        yield
    except TemplateError:
        raise
    except SecurityError as error:
        raise TemplateSecurityError(f"template refused: {error}") from None
    except UndefinedError as error:
        raise TemplateError(f"undefined value: {error}") from None
    except (RecursionError, MemoryError):
        raise TemplateSecurityError("template exceeded the recursion or memory limit") from None
    except Exception as error:
        raise TemplateError(f"template failed: {type(error).__name__}: {error}") from None


def _render_text(template, variables: dict) -> str:
    """Stream one template, refusing output past the bound."""
    parts, total = [], 0
    for chunk in template.generate(variables):
        total += len(chunk)
        if total > MAX_OUTPUT_CHARS:
            raise TemplateSecurityError(f"template output exceeds {MAX_OUTPUT_CHARS} characters")
        parts.append(chunk)
    return "".join(parts)


def render(content, variables: Mapping[str, object]):
    """Render a text prompt, or each chat message's content, with variables; same shape back."""
    prepared, variables = _prepare_all(content), dict(variables)
    with metered(), _render_errors():
        texts = [_render_text(template, variables) for template, _ in prepared]
    if isinstance(content, str):
        return texts[0]
    return [{"role": message["role"], "content": text} for message, text in zip(content, texts)]
