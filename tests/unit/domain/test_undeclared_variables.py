"""Which template variables no contact can fill (a typo renders as empty text in every message)."""

from __future__ import annotations

from billing.domain.variables import undeclared_variables


def test_built_in_and_declared_names_pass_and_typos_get_the_closest_name() -> None:
    assert undeclared_variables(frozenset({"nome", "valor", "variaveis.plano"}), None) == []
    assert undeclared_variables(frozenset({"valro"}), None) == [("valro", "valor")]
    assert undeclared_variables(frozenset({"vencimnto"}), None) == [("vencimnto", "vencimento")]
    assert undeclared_variables(frozenset({"zzz"}), None) == [("zzz", None)]
    assert undeclared_variables(frozenset({"plano"}), frozenset({"plano"})) == []
    assert undeclared_variables(frozenset({"plnao"}), frozenset({"plano"})) == [("plnao", "plano")]


def test_a_custom_namespace_is_checked_against_the_schema_when_there_is_one() -> None:
    assert undeclared_variables(frozenset({"variaveis.parcela"}), frozenset({"parcela"})) == []
    assert undeclared_variables(frozenset({"variaveis.parcla"}), frozenset({"parcela"})) == [
        ("variaveis.parcla", "variaveis.parcela")
    ]
