from __future__ import annotations

import pytest
from billing.domain.sanitize import (
    MAX_NAME_CHARS,
    MAX_TEMPLATE_CHARS,
    contains_url,
    multi_line,
    person_name,
    require_https_url,
    sanitize_template_body,
    sanitize_value,
    single_line,
)
from billing.errors import InvalidValueError, TemplateSyntaxError, TemplateTooLongError


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("Oi <script>alert(1)</script>{{nome}}", "Oi {{nome}}"),
        ("<iframe src='https://mal.example'>conteúdo</iframe>fim", "fim"),
        ("<b onclick='roubar()'>*pague*</b>", "*pague*"),
        ("<a href='javascript:alert(1)'>{{link_pagamento}}</a>", "{{link_pagamento}}"),
        ("<img src=x onerror=alert(1)>ok", "ok"),
        ("<svg><script>1</script></svg>ok", "ok"),
        ("<p>linha</p>", "linha"),
    ],
)
def test_template_bodies_lose_html_tags_scripts_and_handlers(dirty: str, clean: str) -> None:
    assert sanitize_template_body(dirty) == clean


def test_plain_text_characters_are_not_html_escaped() -> None:
    text = "R$ 10 & juros < 2% > nada {{#if a}}*x* _y_ ~z~{{/if}} 🎉 &amp;"
    assert sanitize_template_body(text) == text


def test_entities_introduced_by_the_cleaner_are_turned_back_into_characters() -> None:
    assert sanitize_template_body("<b>a & b < c</b> {{x}}") == "a & b < c {{x}}"


def test_escaped_markup_revealed_by_unescaping_is_removed_too() -> None:
    assert "<" not in sanitize_template_body("<i>x</i>&lt;script&gt;alert(1)&lt;/script&gt;")


def test_script_and_data_urls_in_plain_text_are_removed_but_the_word_data_stays() -> None:
    cleaned = sanitize_template_body("Data: 20/11 javascript:alert(1) data:text/html;base64,AAA ok")
    assert cleaned == "Data: 20/11   ok"


def test_template_bodies_with_bad_block_syntax_are_rejected() -> None:
    with pytest.raises(TemplateSyntaxError):
        sanitize_template_body("{{#if a}}sem fim")


def test_templates_that_can_never_fit_in_a_message_are_rejected() -> None:
    with pytest.raises(TemplateTooLongError):
        sanitize_template_body("x" * 5000)
    with pytest.raises(TemplateTooLongError):
        sanitize_template_body("{{a}}" * (MAX_TEMPLATE_CHARS // 5 + 1))


def test_long_text_inside_an_optional_branch_is_allowed() -> None:
    body = "{{#if longo}}" + "x" * 5000 + "{{/if}}"
    assert sanitize_template_body(body) == body


def test_values_without_markup_are_returned_unchanged() -> None:
    value = "Silva & Filhos &reg=1 *Ltda*"
    assert sanitize_value(value) is value


def test_values_lose_markup_like_template_bodies() -> None:
    assert sanitize_value("Maria<script>x</script> <b>Silva</b>") == "Maria Silva"
    assert sanitize_value("javascript:alert(1)") == ""


@pytest.mark.parametrize("url", ["https://pagar.exemplo.com.br/abc?x=1&y=2", " https://a.b/c "])
def test_https_urls_are_accepted(url: str) -> None:
    assert require_https_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://pagar.exemplo.com.br", "https"),
        ("javascript:alert(1)", "https"),
        ("data:text/html,x", "https"),
        ("pagar.exemplo.com.br/abc", "https"),
        ("https://", "host"),
        ("https:///caminho", "host"),
        ("https://a b.com", "spaces"),
        ("", "empty"),
        ("https://[::1", "malformed"),
    ],
)
def test_other_urls_are_refused_with_a_clear_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidValueError, match=reason):
        require_https_url(url)


# --- text typed into the ERP on its way into a message ------------------------------------------------

ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"

@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("Maria Silva", "Maria Silva"),
        ("  Maria\n\nSilva\t ", "Maria Silva"),
        ("Maria\u202eavliS", "MariaavliS"),  # a right-to-left override cannot reorder the text
        ("Ma\u200bria\u2060 Silva\u00ad", "Maria Silva"),  # zero-width and soft-hyphen characters go
        ("Jo\u0000ão\u0007", "João"),
        ("Família 👨\u200d👩\u200d👧", "Família 👨\u200d👩\u200d👧"),  # the joiner that makes one emoji stays
        (ENGLAND, ENGLAND),  # a subdivision flag is tag characters: they stay
    ],
)
def test_a_single_line_field_shows_only_visible_text_on_one_line(typed: str, shown: str) -> None:
    assert single_line(typed) == shown


def test_a_multi_line_value_keeps_its_line_breaks_but_nothing_invisible() -> None:
    assert multi_line("Olá\r\nSegunda linha\u202e\u200b.") == "Olá\nSegunda linha."


@pytest.mark.parametrize(
    "text", ["https://evil.example", "pague em www.golpe.net", "bit.ly/abc", "Maria pagar.com.br", "x://y"]
)
def test_links_are_recognised(text: str) -> None:
    assert contains_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "Maria Silva",
        "Dr. José",
        "J. R. R. Souza",
        "Ana Maria S.A.",
        "METALURGICA XYZ IND.COM.LTDA",
        "Padaria Pao Bom Ltda.ME",
        "Auto Pecas Com. e Ind. Ltda",
        "JOSE DA SILVA - ME",
    ],
)
def test_names_are_not_links(text: str) -> None:
    assert not contains_url(text)


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("Maria — pague em https://golpe.example/boleto", "link"),
        ("Maria www.golpe.net", "link"),
        ("x" * (MAX_NAME_CHARS + 1), "at most"),
    ],
)
def test_a_name_with_a_link_too_long_or_invisible_is_refused(typed: str, why: str) -> None:
    with pytest.raises(InvalidValueError, match=why):
        person_name(typed)


def test_a_name_with_nothing_visible_is_no_name() -> None:
    assert person_name("\u200b\u202e \n") is None
    assert person_name(" Maria ") == "Maria"
