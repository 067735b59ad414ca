"""The Jinja2 sandbox prompts render in: immutable, strict, and metered in steps, output size and time."""

import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

from promptvault.errors import MissingVariableError, TemplateError, TemplateSecurityError

MAX_OUTPUT_CHARS = 1_000_000  # all the text one render produces, and the size of any value it builds
MAX_RANGE = 100_000  # items in one range()
MAX_STEPS = 200_000  # loop iterations, calls, filters, operators and outputs in one render
MAX_RENDER_SECONDS = 2.0
MAX_INT_BITS = 10_000  # about 3,000 digits, within Python's int-to-str limit

# Methods whose output can dwarf their input; templates have guarded filters for these jobs.
_AMPLIFIERS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate", "format", "format_map",
     "to_bytes"}
)
_SEQUENCES = (str, bytes, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


@dataclass
class _Budget:
    steps: int = 0
    produced: int = 0
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_RENDER_SECONDS)


_BUDGET: ContextVar[_Budget | None] = ContextVar("promptvault_template_budget", default=None)


def _tick(chars: int = 0) -> None:
    """Charge one step (and chars of output) to the running render; refuse past any limit."""
    budget = _BUDGET.get()
    if budget is None:  # Jinja folds constant filters at compile time; this keeps them to render time
        raise TemplateSecurityError("template code only runs inside render()")
    budget.steps, budget.produced = budget.steps + 1, budget.produced + chars
    if budget.steps > MAX_STEPS:
        raise TemplateSecurityError(f"template did more than {MAX_STEPS} steps")
    if budget.produced > MAX_OUTPUT_CHARS:
        raise TemplateSecurityError(f"template output exceeds {MAX_OUTPUT_CHARS} characters")
    if time.monotonic() > budget.deadline:
        raise TemplateSecurityError(f"template ran longer than {MAX_RENDER_SECONDS} seconds")


def _weight(value: object, indent: int = 0) -> int:
    """Rough printed size of value, nested items (each indented depth * indent) included; stops past the bound."""
    total, stack = 0, [(value, 0)]
    while stack and total <= MAX_OUTPUT_CHARS:
        item, depth = stack.pop()
        total += depth * indent
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            total += len(item) + 1
            children = [part for pair in item.items() for part in pair] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        else:
            total += 1
    return total


def _check_size(size: int) -> None:
    """Refuse a value that would be larger than the output bound."""
    if size > MAX_OUTPUT_CHARS:
        raise TemplateSecurityError(f"template value would exceed {MAX_OUTPUT_CHARS} characters")


def _checked(value):
    """value, once its size is known to be within bounds."""
    _check_size(_weight(value))
    return value


def _int(value: object) -> int:
    """value if it is an int, else 0 (the filter itself reports a bad argument)."""
    return value if isinstance(value, int) else 0


def _format_size(fmt: str, args: object) -> int:
    """Upper bound on the length of fmt % args."""
    widths = [width for spec in _PERCENT_SPEC.findall(fmt) for width in spec if width]
    if "*" in widths:
        raise TemplateSecurityError("'*' widths are not allowed in % formatting")
    return len(fmt) + sum(int(width[:9]) for width in widths) + _weight(args)


def _check_binop(op: str, left: object, right: object) -> None:
    """Refuse an operator whose result would be too large, before computing it."""
    if isinstance(left, int) and isinstance(right, int):
        bits = left.bit_length() * right if op == "**" and abs(left) > 1 else left.bit_length() + right.bit_length()
        if op in ("*", "**") and bits > MAX_INT_BITS:
            raise TemplateSecurityError(f"integer result would exceed {MAX_INT_BITS} bits")
    elif op == "*" and isinstance(left, _SEQUENCES + (int,)) and isinstance(right, _SEQUENCES + (int,)):
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        _check_size(_weight(sequence) * _int(times))
    elif op == "+" and isinstance(left, _SEQUENCES):
        _check_size(_weight(left) + _weight(right))
    elif op == "%" and isinstance(left, str):
        _check_size(_format_size(left, right))


def _charged(items):
    """Yield items, charging one step each."""
    for item in items:
        _tick()
        yield item


def _range(*args: int):
    """range() for templates: at most MAX_RANGE items, each charged to the render as it is produced."""
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise TemplateSecurityError(f"range() is limited to {MAX_RANGE} items")
    return _charged(items)


class _Undefined(StrictUndefined):
    """StrictUndefined that reports a missing top-level variable as MissingVariableError(name)."""

    __slots__ = ()

    def __init__(self, hint=None, obj=missing, name=None, exc=UndefinedError):
        if hint is None and obj is missing and name is not None and exc is UndefinedError:
            exc = functools.partial(lambda variable, _jinja_message: MissingVariableError(variable), name)
        super().__init__(hint, obj, name, exc)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with work charged on calls and sizes checked on operators."""

    intercepted_binops = frozenset({"+", "*", "%", "**"})

    def is_safe_attribute(self, obj, attr, value) -> bool:
        """Also refuse the amplifying str/bytes/int methods."""
        return not (isinstance(obj, (str, bytes, int)) and attr in _AMPLIFIERS) and super().is_safe_attribute(
            obj, attr, value
        )

    def wrap_str_format(self, value):
        """Hand out no str.format wrapper, so is_safe_attribute refuses str.format."""
        return None

    def call_binop(self, context, operator, left, right):
        """Apply an operator once its result size is known to be bounded."""
        _tick()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context, obj, /, *args, **kwargs):
        """Call as the sandbox does, charging a step and bounding the result."""
        _tick()
        return _checked(super().call(context, obj, *args, **kwargs))


# Filters whose output can dwarf their input: an upper bound on the result, checked before running them.
_ESTIMATES = {
    "center": lambda value, width=80: _int(width),
    "indent": lambda s, width=4, *_, **__: (str(s).count("\n") + 1) * (_int(width) or len(str(width))),
    "replace": lambda s, old, new, count=None: len(str(s)) + (str(s).count(str(old)) + 1) * len(str(new)),
    "join": lambda value, d="", attribute=None: _weight(value) + len(value) * len(str(d)),
    "format": lambda value, *args, **kwargs: _format_size(str(value), (args, kwargs)),
    "batch": lambda value, n, fill_with=None: _int(n) * _weight(fill_with),
    "slice": lambda value, n, fill_with=None: _int(n) * _weight(fill_with),
    "wordwrap": lambda s, width=79, _b=True, wrapstring=None, *_, **__: len(str(s))
    + (2 * len(str(s)) // max(_int(width), 1) + str(s).count("\n") + 1) * len(str(wrapstring or "\n")),
    "tojson": lambda value, indent=None: _weight(value, len(indent) if isinstance(indent, str) else _int(indent)),
    "pprint": lambda value: _weight(value, 1),
    "sum": lambda value, attribute=None, start=0: 0 if isinstance(start, (int, float)) else MAX_OUTPUT_CHARS + 1,
}


def _guarded(name: str, fn):
    """A built-in filter that charges a step and checks its estimated and actual result size."""
    skip, estimate = int(hasattr(fn, "jinja_pass_arg")), _ESTIMATES.get(name)

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        _tick()
        if isinstance(args[skip], Iterator):  # so estimates can measure it; filters read it all anyway
            args = (*args[:skip], list(args[skip]), *args[skip + 1 :])
        if estimate is not None:
            _check_size(estimate(*args[skip:], **kwargs))
        return _checked(fn(*args, **kwargs))

    return guarded


@pass_context
def _output(context, value) -> str:
    """One piece of output; captured blocks and macro bodies count too, so nothing grows unseen."""
    text = str(value)
    _tick(len(text))
    return text


@pass_context
def _concat(context, items) -> str:
    """The ~ operator, bounded."""
    parts = [str(item) for item in items]
    _check_size(sum(map(len, parts)))
    return "".join(parts)


@pass_context
def _iterate(context, items):
    """A for loop's items, one step each (our range() already charges its own)."""
    return items if getattr(items, "gi_code", None) is _charged.__code__ else _charged(items)


@pass_context
def _literal(context, value):
    """A list, tuple or dict literal, bounded: literals can repeat one large value many times."""
    return _checked(value)


def _wrap(node: nodes.Expr, name: str) -> nodes.Filter:
    """node piped through one of our internal filters."""
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Guard(NodeTransformer):
    """Rewrites a parsed template so loops, output, ~ and literals go through the budget."""

    def visit_Template(self, node):
        for ref in node.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            raise TemplateError(f"line {ref.lineno}: extends, include and import are not available")
        return self.generic_visit(node)

    def visit_For(self, node):
        node = self.generic_visit(node)
        node.iter = _wrap(node.iter, "pv_iterate")
        return node

    def visit_Output(self, node):
        node = self.generic_visit(node)
        node.nodes = [_wrap(child, "pv_output") for child in node.nodes]
        return node

    def visit_FilterBlock(self, node):  # its result is written directly, not through an Output node
        node = self.generic_visit(node)
        node.filter = _wrap(node.filter, "pv_output")
        return node

    def visit_Concat(self, node):
        return _wrap(nodes.List(self.generic_visit(node).nodes, lineno=node.lineno), "pv_concat")

    def visit_List(self, node):
        return _wrap(self.generic_visit(node), "pv_literal")

    visit_Dict = visit_List

    def visit_Tuple(self, node):
        return self.visit_List(node) if node.ctx == "load" else self.generic_visit(node)


def _build_environment() -> _Sandbox:
    """The one sandbox every prompt renders in."""
    env = _Sandbox(undefined=_Undefined, autoescape=False, keep_trailing_newline=True)
    del env.globals["lipsum"]  # an unbounded text generator, of no use in prompts
    del env.filters["urlize"]  # HTML-only, and its attributes repeat once per link
    env.globals["range"] = _range
    env.filters = {name: _guarded(name, fn) for name, fn in env.filters.items()}
    env.filters.update(pv_output=_output, pv_concat=_concat, pv_iterate=_iterate, pv_literal=_literal)
    return env


_ENV = _build_environment()


@functools.lru_cache(maxsize=128)
def compile_template(source: str):
    """(compiled template, undeclared variables) of one template text."""
    try:
        ast = _ENV.parse(source)
        names = frozenset(meta.find_undeclared_variables(ast)) - _ENV.globals.keys()
        ast = _Guard().visit(ast)
        ast.set_environment(_ENV)
        return _ENV.from_string(ast), names
    except TemplateSyntaxError as error:
        raise TemplateError(f"line {error.lineno}: {error.message}") from None


@contextmanager
def metered() -> Iterator[None]:
    """Give the renders inside this block one fresh budget of steps, output and time."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)
