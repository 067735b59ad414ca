import threading
from typing import NamedTuple

import pytest

from promptvault import sandbox
from promptvault.errors import MissingVariableError, TemplateError, TemplateSecurityError, ValidationError
from promptvault.sandbox import MAX_OUTPUT_CHARS
from promptvault.templates import MAX_TEMPLATE_CHARS, extract_variables, render


class Err(NamedTuple):
    """An expected error: exactly this class, with this fragment in its message."""

    cls: type
    match: str


BIG = "x" * 999_999
SECURITY = TemplateSecurityError

POLICY = [
    # What prompts need works as plain Jinja does.
    pytest.param("Hello {{ name }}!", {"name": "Ann"}, "Hello Ann!", id="plain-variable"),
    pytest.param(
        "{{ n }} {{ f }} {{ xs }} {{ d }} {{ none }} {{ t }}",
        {"n": 3, "f": 1.5, "xs": [1, "a"], "d": {"k": 1}, "t": True},
        "3 1.5 [1, 'a'] {'k': 1} None True",
        id="non-string-values",
    ),
    pytest.param(
        "{{ name|upper }}|{{ xs|join(', ') }}|{{ nope|default('n/a') }}|{{ d|tojson }}|{{ ' a '|trim }}"
        "|{{ xs|length }}",
        {"name": "ann", "xs": [1, 2], "d": {"a": "<b>"}},
        'ANN|1, 2|n/a|{"a": "\\u003cb\\u003e"}|a|2',
        id="filters",
    ),
    pytest.param(
        "{{ 'a-b'|replace('-', '+') }}|{{ 'a\nb'|indent(2) }}|{{ 'ab'|center(4) }}|{{ [1, 2, 3]|batch(2)|list }}",
        {},
        "a+b|a\n  b| ab |[[1, 2], [3]]",
        id="guarded-filters-work",
    ),
    pytest.param(
        "{% for x in xs %}{{ loop.index }}={{ x }}{% if not loop.last %},{% endif %}{% else %}none{% endfor %}",
        {"xs": ["a", "b"]},
        "1=a,2=b",
        id="loop",
    ),
    pytest.param("{% for x in xs %}{{ x }}{% else %}none{% endfor %}", {"xs": []}, "none", id="loop-else"),
    pytest.param(
        "{% for i in range(3) %}{{ i }}{% endfor %}|{{ range(4)|reverse|join }}|{{ range(3)|length }}",
        {},
        "012|3210|3",
        id="small-range",
    ),
    pytest.param(
        "{% if n > 1 %}many{% elif n == 1 %}one{% else %}none{% endif %}", {"n": 1}, "one", id="conditional"
    ),
    pytest.param(
        "{% set ns = namespace(total=0) %}{% for i in xs %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
        {"xs": [1, 2, 3]},
        "6",
        id="set-and-namespace",
    ),
    pytest.param(
        "{% macro item(x) %}<{{ x }}>{% endmacro %}{{ item(1) }}{% filter upper %}b{% endfilter %}",
        {},
        "<1>B",
        id="macro-and-filter-block",
    ),
    pytest.param(
        "{{ a ~ 1 }} {{ [1] + [2] }} {{ 'ab' * 2 }} {{ 2 ** 10 }} {{ '%03d' % 7 }} {{ '%s-%s'|format(1, 2) }}",
        {"a": "x"},
        "x1 [1, 2] abab 1024 007 1-2",
        id="operators",
    ),
    # Jinja's ** is left-associative: this is (9**9)**9, an 86-digit number, not a bomb.
    pytest.param("{{ 9**9**9 }}", {}, str(9**81), id="power-left-associative"),
    pytest.param("{{ s }}\n", {"s": "<b>&"}, "<b>&\n", id="no-autoescape-keeps-trailing-newline"),
    pytest.param(
        [{"role": "system", "content": "You are {{ who }}."}, {"role": "user", "content": "{{ q }}"}],
        {"who": "terse", "q": "Hi"},
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
        id="chat-messages",
    ),
    pytest.param("{{ x if x is defined else 'unset' }}", {}, "unset", id="defined-test-on-missing"),
    # Missing and undefined values.
    pytest.param("{{ a }} {{ b }}", {"a": 1}, Err(MissingVariableError, "missing variable 'b'"), id="missing-variable"),
    pytest.param("{{ b.name }}", {}, Err(MissingVariableError, "'b'"), id="missing-variable-via-attribute"),
    pytest.param("{{ user.name }}", {"user": {}}, Err(TemplateError, "no attribute 'name'"), id="missing-attribute"),
    pytest.param("{{ lipsum() }}", {}, Err(MissingVariableError, "'lipsum'"), id="lipsum-removed"),
    pytest.param("{{ 1 / 0 }}", {}, Err(TemplateError, "ZeroDivisionError"), id="runtime-error"),
    # Escapes from the sandbox.
    pytest.param("{{ ''.__class__.__mro__ }}", {}, Err(SECURITY, "__class__"), id="escape-str-class"),
    pytest.param("{{ cycler.__init__.__globals__ }}", {}, Err(SECURITY, "__init__"), id="escape-cycler-globals"),
    pytest.param("{{ self._TemplateReference__context }}", {}, Err(SECURITY, "unsafe"), id="escape-self-context"),
    pytest.param("{{ x.__class__ }}", {"x": 1}, Err(SECURITY, "__class__"), id="escape-variable-class"),
    pytest.param("{{ ''['__class__'] }}", {}, Err(SECURITY, "__class__"), id="escape-subscript"),
    pytest.param("{{ x|attr('__class__') }}", {"x": 1}, Err(SECURITY, "__class__"), id="escape-attr-filter"),
    pytest.param("{{ range.__globals__ }}", {}, Err(SECURITY, "__globals__"), id="escape-range-globals"),
    pytest.param("{{ xs.append(1) }}", {"xs": []}, Err(SECURITY, "append"), id="mutate-list"),
    pytest.param("{{ d.update(a=1) }}", {"d": {}}, Err(SECURITY, "update"), id="mutate-dict"),
    pytest.param("{{ '{0.__class__}'.format(1) }}", {}, Err(SECURITY, "format"), id="str-format"),
    pytest.param("{{ 'x'.ljust(10**9) }}", {}, Err(SECURITY, "ljust"), id="amplifying-method"),
    pytest.param("{{ (1).to_bytes(10**9, 'big') }}", {}, Err(SECURITY, "to_bytes"), id="int-to-bytes"),
    pytest.param("{% include 'x' %}", {}, Err(TemplateError, "line 1: extends, include"), id="include-refused"),
    # Work and time.
    pytest.param("{{ range(10**9)|length }}", {}, Err(SECURITY, "range() is limited"), id="huge-range"),
    pytest.param(
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        {},
        Err(SECURITY, "steps"),
        id="nested-huge-loops",
    ),
    pytest.param(
        "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        {"s": "x" * 99_999},
        Err(SECURITY, "steps"),
        id="nested-loops-over-a-string",
    ),
    pytest.param(
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        {},
        Err(SECURITY, "steps"),
        id="exponential-macro",
    ),
    pytest.param("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {}, Err(SECURITY, "recursion"), id="recursion"),
    # Sizes of values.
    pytest.param("{{ 'a' * 10**9 }}", {}, Err(SECURITY, "exceed 1000000 characters"), id="string-repetition-bomb"),
    pytest.param("{{ [s] * 10**6 }}", {"s": "abc"}, Err(SECURITY, "would exceed"), id="list-repetition-bomb"),
    pytest.param("{{ 9 ** (9 ** 9) }}", {}, Err(SECURITY, "10000 bits"), id="power-bomb"),
    pytest.param("{{ n * n }}", {"n": 10**2000}, Err(SECURITY, "bits"), id="int-multiplication-bomb"),
    pytest.param("{% set s = s ~ s %}", {"s": BIG}, Err(SECURITY, "would exceed"), id="concat-doubling"),
    pytest.param("{{ s + s }}", {"s": BIG}, Err(SECURITY, "would exceed"), id="plus-doubling"),
    pytest.param("{% set a = [s, s] %}{{ a|length }}", {"s": BIG}, Err(SECURITY, "would exceed"), id="literal-fan-out"),
    pytest.param("{{ '%999999999s' % 'x' }}", {}, Err(SECURITY, "would exceed"), id="percent-width-bomb"),
    pytest.param("{{ '%*s' % (5, 'x') }}", {}, Err(SECURITY, "'*' widths"), id="percent-star-width"),
    pytest.param("{{ 'x'|center(10**12) }}", {}, Err(SECURITY, "would exceed"), id="center-bomb"),
    pytest.param("{{ s|replace('x', s) }}", {"s": BIG}, Err(SECURITY, "would exceed"), id="replace-bomb"),
    pytest.param("{{ s|indent(10**12) }}", {"s": "\n" * 10}, Err(SECURITY, "would exceed"), id="indent-bomb"),
    pytest.param("{{ range(99999)|join(s) }}", {"s": BIG}, Err(SECURITY, "would exceed"), id="join-bomb"),
    pytest.param("{{ [1]|batch(10**12, fill_with=0)|list }}", {}, Err(SECURITY, "would exceed"), id="batch-bomb"),
    pytest.param("{{ d|tojson(indent=10**12) }}", {"d": [[1]]}, Err(SECURITY, "would exceed"), id="tojson-indent-bomb"),
    pytest.param("{{ s|wordwrap(1, wrapstring=s) }}", {"s": BIG}, Err(SECURITY, "would exceed"), id="wordwrap-bomb"),
    pytest.param("{{ xs|sum(start=[]) }}", {"xs": [[1]]}, Err(SECURITY, "would exceed"), id="quadratic-sum"),
    # Size of output.
    pytest.param("{{ s }}", {"s": "x" * (MAX_OUTPUT_CHARS + 1)}, Err(SECURITY, "output exceeds"), id="output-over"),
    pytest.param(
        "{% for i in range(3) %}{{ s }}{% endfor %}", {"s": "x" * 400_000}, Err(SECURITY, "output"), id="loop-output"
    ),
    pytest.param(
        "{% set c %}{% for i in range(3) %}{{ s }}{% endfor %}{% endset %}ok",
        {"s": "x" * 400_000},
        Err(SECURITY, "output"),
        id="captured-output",
    ),
    pytest.param(
        "{% set c %}{% for i in range(2) %}{% filter center(600000) %}x{% endfilter %}{% endfor %}{% endset %}ok",
        {},
        Err(SECURITY, "output"),
        id="captured-filter-block-output",
    ),
    # Malformed templates and prompts.
    pytest.param("ok\n{{ x }\n", {}, Err(TemplateError, "line 2"), id="syntax-error-names-line"),
    pytest.param(
        [{"role": "user", "content": "ok"}, {"role": "user", "content": "a\n{% if %}"}],
        {},
        Err(TemplateError, "message 2, line 2"),
        id="chat-syntax-error-names-message",
    ),
    pytest.param("{{ x|nope }}", {"x": 1}, Err(TemplateError, "No filter named 'nope'"), id="unknown-filter"),
    pytest.param("x" * (MAX_TEMPLATE_CHARS + 1), {}, Err(ValidationError, "exceeds"), id="oversized-template"),
    pytest.param(
        [{"role": "user", "content": "x" * MAX_TEMPLATE_CHARS}, {"role": "user", "content": "x"}],
        {},
        Err(ValidationError, "exceeds"),
        id="oversized-chat",
    ),
    pytest.param([{"role": "tool", "content": "x"}], {}, Err(ValidationError, "message 1"), id="chat-bad-role"),
    pytest.param([{"role": "user", "content": 1}], {}, Err(ValidationError, "message 1"), id="chat-bad-content"),
    pytest.param(
        [{"role": "user", "content": "x", "nmae": "a"}], {}, Err(ValidationError, "message 1"), id="chat-extra-key"
    ),
    pytest.param(b"{{ x }}", {}, Err(ValidationError, "str or a list"), id="content-wrong-type"),
]


@pytest.mark.parametrize(("content", "variables", "expected"), POLICY)
def test_render_policy(content, variables, expected):
    if not isinstance(expected, Err):
        assert render(content, variables) == expected
        return
    with pytest.raises(expected.cls, match=expected.match.replace("(", r"\(").replace(")", r"\)")) as caught:
        render(content, variables)
    assert caught.type is expected.cls
    assert "0x" not in str(caught.value)  # no object reprs (Python internals) in the message


def test_render_missing_variable_sets_name():
    with pytest.raises(MissingVariableError) as caught:
        render("{{ present }}{{ absent }}", {"present": 1})
    assert caught.value.name == "absent"


def test_render_chat_returns_new_messages():
    messages = [{"role": "user", "content": "{{ q }}"}]
    rendered = render(messages, {"q": "hi"})
    assert rendered == [{"role": "user", "content": "hi"}]
    assert messages == [{"role": "user", "content": "{{ q }}"}]


def test_render_output_at_limit_passes():
    assert len(render("{{ s }}", {"s": "x" * MAX_OUTPUT_CHARS})) == MAX_OUTPUT_CHARS


def test_render_template_at_size_limit_passes():
    assert render("x" * MAX_TEMPLATE_CHARS, {}) == "x" * MAX_TEMPLATE_CHARS


def test_render_deadline_refuses(monkeypatch):
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", -1.0)
    with pytest.raises(TemplateSecurityError, match="longer than"):
        render("{% for i in range(3) %}{{ i }}{% endfor %}", {})


def test_render_budget_is_per_render():
    busy = "{% for i in range(60000) %}{% endfor %}{% for i in range(60000) %}{% endfor %}done"
    with pytest.raises(TemplateSecurityError):
        render(busy + busy, {})
    assert render(busy, {}) == "done"
    assert render(busy, {}) == "done"


def test_render_budget_is_per_thread():
    busy = "{% for i in range(60000) %}{% endfor %}{% for i in range(60000) %}{% endfor %}done"
    start, results = threading.Barrier(2), []

    def work():
        start.wait()
        results.append(render(busy, {}))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["done", "done"]


def test_render_compiles_each_source_once():
    source = "{{ cached_once }}"
    render(source, {"cached_once": 1})
    hits = sandbox.compile_template.cache_info().hits
    render(source, {"cached_once": 2})
    assert sandbox.compile_template.cache_info().hits == hits + 1


def test_extract_variables_sorted_unique():
    assert extract_variables("{{ b }} {{ a }} {{ b|upper }}") == ["a", "b"]


def test_extract_variables_skips_loop_set_and_globals():
    source = "{% set y = 1 %}{% for x in xs %}{{ x }}{{ y }}{{ loop.index }}{% endfor %}{{ range(2)|list }}{{ dict() }}"
    assert extract_variables(source) == ["xs"]


def test_extract_variables_chat_union():
    messages = [{"role": "system", "content": "{{ b }}"}, {"role": "user", "content": "{{ a }}{{ b }}"}]
    assert extract_variables(messages) == ["a", "b"]


def test_extract_variables_syntax_error_names_line():
    with pytest.raises(TemplateError, match="line 3"):
        extract_variables("a\nb\n{% for %}")


def test_extract_variables_chat_syntax_error_names_message():
    with pytest.raises(TemplateError, match="message 3, line 1"):
        extract_variables([{"role": "user", "content": "ok"}] * 2 + [{"role": "user", "content": "{{ x"}])


def test_extract_variables_oversized_template():
    with pytest.raises(ValidationError):
        extract_variables("x" * (MAX_TEMPLATE_CHARS + 1))
