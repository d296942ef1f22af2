from __future__ import annotations

import pytest
from billing.domain.templates import MAX_MESSAGE_CHARS, compile_template
from billing.errors import TemplateRenderError, TemplateSyntaxError, UnknownVariableError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def render(text: str, **context: object) -> str:
    return compile_template(text).render(context)


def test_variables_are_replaced_by_their_values() -> None:
    assert render("Olá {{nome}}, {{ valor }}", nome="Ana", valor="R$ 1,00") == "Olá Ana, R$ 1,00"


def test_dotted_paths_walk_nested_mappings() -> None:
    assert render("{{cliente.nome}}", cliente={"nome": "Ana"}) == "Ana"


def test_dotted_paths_never_read_object_attributes() -> None:
    assert render("{{nome.__class__}}{{nome.upper}}", nome="ana") == ""


def test_missing_variables_render_empty() -> None:
    assert render("[{{nada}}][{{a.b.c}}]", a={"b": 1}) == "[][]"


def test_values_are_not_html_escaped() -> None:
    assert render("{{v}}", v="<b> & 'x'") == "<b> & 'x'"


def test_numbers_booleans_and_lists_render_as_text() -> None:
    assert render("{{a}} {{b}} {{c}} {{d}}", a=3, b=True, c=[1, "x"], d=None) == "3 true 1, x "


def test_if_renders_the_then_branch_for_truthy_values() -> None:
    assert render("{{#if pago}}sim{{else}}não{{/if}}", pago=True) == "sim"


@pytest.mark.parametrize("falsy", [None, "", 0, False, [], {}])
def test_if_treats_missing_null_empty_zero_and_false_as_falsy(falsy: object) -> None:
    assert render("{{#if x}}sim{{else}}não{{/if}}", x=falsy) == "não"
    assert render("{{#if x}}sim{{else}}não{{/if}}") == "não"


def test_unless_is_the_inverse_of_if_and_supports_else() -> None:
    assert render("{{#unless x}}a{{else}}b{{/unless}}", x=0) == "a"
    assert render("{{#unless x}}a{{else}}b{{/unless}}", x=1) == "b"


def test_blocks_nest_to_any_depth() -> None:
    depth = 40
    text = "".join(f"{{{{#if v{i}}}}}" for i in range(depth)) + "deep" + "{{/if}}" * depth
    context = {f"v{i}": 1 for i in range(depth)}
    assert compile_template(text).render(context) == "deep"
    assert compile_template(text).render({**context, "v39": 0}) == ""


def test_comments_render_nothing() -> None:
    assert render("a{{! nota interna }}b{{!-- com }} dentro --}}c") == "abc"


def test_block_tags_alone_on_a_line_leave_no_blank_line() -> None:
    text = "Oi\n{{#if a}}\n  linha\n{{else}}\noutra\n{{/if}}\nfim"
    assert render(text, a=1) == "Oi\n  linha\nfim"
    assert render(text) == "Oi\noutra\nfim"


def test_inline_block_tags_keep_surrounding_whitespace() -> None:
    assert render("a {{#if x}}b{{/if}} c", x=1) == "a b c"


def test_whatsapp_formatting_and_emoji_pass_through() -> None:
    assert render("*negrito* _itálico_ ~riscado~ ```mono``` 🎉 {{n}}", n="✅") == (
        "*negrito* _itálico_ ~riscado~ ```mono``` 🎉 ✅"
    )


def test_variables_lists_every_referenced_path() -> None:
    compiled = compile_template("{{a}} {{#if b.c}}{{d}}{{/if}}{{#unless e}}{{/unless}}{{!f}}")
    assert compiled.variables == frozenset({"a", "b.c", "d", "e"})


def test_compiling_the_same_text_returns_the_cached_template() -> None:
    assert compile_template("{{x}} cache") is compile_template("{{x}} cache")


def test_strict_mode_reports_every_unknown_variable_even_in_untaken_branches() -> None:
    compiled = compile_template("{{nome}} {{#if x}}{{desconhecida}}{{/if}} {{a.b}}")
    with pytest.raises(UnknownVariableError) as info:
        compiled.render({"nome": "Ana", "x": 0, "a": {}}, strict=True)
    assert info.value.names == ["a.b", "desconhecida"]


def test_strict_mode_accepts_known_variables_with_empty_values() -> None:
    assert compile_template("{{a}}{{b}}").render({"a": None, "b": ""}, strict=True) == ""


def test_output_over_the_whatsapp_limit_is_an_error() -> None:
    compiled = compile_template("{{x}}")
    assert len(compiled.render({"x": "a" * MAX_MESSAGE_CHARS})) == MAX_MESSAGE_CHARS
    with pytest.raises(TemplateRenderError, match="4096"):
        compiled.render({"x": "a" * (MAX_MESSAGE_CHARS + 1)})


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("Oi\n  {{#if a}}x", "never closed", 2, 3),
        ("{{#if a}}\n{{/unless}}", "closes {{#if}} opened at line 1, column 1", 2, 1),
        ("ok\n{{/if}}", "without a matching", 2, 1),
        ("a {{else}}", "outside", 1, 3),
        ("{{#if a}}{{else}}{{else}}{{/if}}", "second {{else}}", 1, 18),
        ("x\ny {{ }}", "empty tag", 2, 3),
        ("x {{nome", "unclosed tag", 1, 3),
        ("{{#if}}{{/if}}", "needs one variable", 1, 1),
        ("{{#if a b}}{{/if}}", "needs one variable", 1, 1),
        ("{{#each a}}{{/each}}", "unknown block", 1, 1),
        ("{{nome completo}}", "invalid variable name", 1, 1),
        ("{{#if a}}{{/if x}}", "takes no argument", 1, 10),
        ("ção {{1x}}", "invalid variable name", 1, 5),
    ],
)
def test_syntax_errors_name_the_problem_with_line_and_column(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(text)
    assert message in info.value.reason
    assert (info.value.line, info.value.column) == (line, column)


VALID_TEMPLATE = (
    "Olá {{nome}}!\n{{#if dias_atraso}}\nAtraso: {{dias_atraso}} {{x.y}}\n{{else}}\n"
    "{{#unless vence_hoje}}Vence {{vencimento}}{{else}}Hoje{{/unless}}\n{{/if}}\n{{valor}}"
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50) | st.decimals(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["nome", "dias_atraso", "x", "vence_hoje", "vencimento", "valor"]), values))
def test_rendering_a_valid_template_never_raises_on_any_values(context: dict[str, object]) -> None:
    assert isinstance(compile_template(VALID_TEMPLATE).render(context), str)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("{}#/!ifunlesx. \n")) | st.characters(),
        max_size=60,
    )
)
def test_any_text_either_compiles_or_raises_the_syntax_error(text: str) -> None:
    try:
        compiled = compile_template(text)
    except TemplateSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1
    else:
        compiled.render({})
