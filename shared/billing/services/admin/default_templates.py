"""The pt-BR templates every new tenant starts with (three variations per type, to vary wording).

Written as a Brazilian finance team would: day counts in the singular or plural ("1 dia", "3 dias",
from ``dias_atraso_texto`` / ``dias_para_vencer_texto``), the due day said as "hoje", and every
reminder ending with how to stop receiving them (the default opt-out keywords). Notifications send the
ERP's ``mensagem`` variable when given, a neutral sentence otherwise.
"""

from __future__ import annotations

from billing.domain.states import TemplateType

OPT_OUT_LINE = " Para não receber mais lembretes, responda SAIR."
# Sent back once when a customer opts out ({company}: the tenant's display name at creation; tenants
# change it with `billing config set --opt-out-confirmation`).
DEFAULT_OPT_OUT_CONFIRMATION = (
    "Pronto, você não receberá mais lembretes de cobrança por aqui. Se precisar, fale com {company}."
)

DEFAULT_TEMPLATES: dict[TemplateType, tuple[str, list[str]]] = {
    TemplateType.OVERDUE: (
        "cobranca-padrao",
        [
            "Olá, {{nome}}! Identificamos que a fatura {{#if fatura}}*{{fatura}}* {{/if}}no valor de *{{valor}}*, "
            "vencida em {{vencimento}}, está em aberto{{#if dias_atraso}} há {{dias_atraso_texto}}{{/if}}."
            "{{#if link_pagamento}} Para pagar: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX copia e cola: {{codigo_pix}}{{/if}}"
            " Se já pagou, desconsidere." + OPT_OUT_LINE + " {{empresa}}",
            "Oi, {{nome}}, tudo bem? Lembramos que o pagamento de *{{valor}}* com vencimento em {{vencimento}} "
            "ainda não foi identificado{{#if dias_atraso}} ({{dias_atraso_texto}} de atraso){{/if}}."
            "{{#if link_pagamento}} Link para pagamento: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX: {{codigo_pix}}{{/if}}"
            " Qualquer dúvida, estamos à disposição." + OPT_OUT_LINE + " {{empresa}}",
            "{{nome}}, consta em aberto o valor de *{{valor}}*{{#if fatura}} referente à fatura {{fatura}}{{/if}}, "
            "vencido em {{vencimento}}."
            "{{#if link_pagamento}} Você pode regularizar por aqui: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} Ou pelo PIX: {{codigo_pix}}{{/if}}"
            " Caso já tenha pago, por favor ignore esta mensagem." + OPT_OUT_LINE + " {{empresa}}",
        ],
    ),
    TemplateType.UPCOMING: (
        "lembrete-vencimento",
        [
            "Olá, {{nome}}! {{#if vence_hoje}}Sua fatura de *{{valor}}* vence *hoje*.{{else}}Sua fatura de "
            "*{{valor}}* vence em {{vencimento}} (daqui a {{dias_para_vencer_texto}}).{{/if}}"
            "{{#if link_pagamento}} Para pagar: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX copia e cola: {{codigo_pix}}{{/if}}" + OPT_OUT_LINE + " {{empresa}}",
            "Oi, {{nome}}, passando para lembrar do vencimento {{#if vence_hoje}}*hoje*{{else}}em {{vencimento}}"
            "{{/if}} no valor de *{{valor}}*."
            "{{#if link_pagamento}} Link: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX: {{codigo_pix}}{{/if}} Obrigado!" + OPT_OUT_LINE + " {{empresa}}",
            "{{nome}}, sua próxima fatura{{#if fatura}} ({{fatura}}){{/if}} de *{{valor}}* vence "
            "{{#if vence_hoje}}*hoje*{{else}}em {{vencimento}}{{/if}}."
            "{{#if link_pagamento}} Pague com antecedência: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX: {{codigo_pix}}{{/if}}" + OPT_OUT_LINE + " {{empresa}}",
        ],
    ),
    TemplateType.NOTIFICATION: (
        "aviso-padrao",
        [
            "Olá, {{nome}}! {{#if mensagem}}{{mensagem}}{{else}}Temos um aviso importante sobre sua conta."
            "{{/if}}" + OPT_OUT_LINE + " {{empresa}}",
            "Oi, {{nome}}. {{#if mensagem}}{{mensagem}}{{else}}Há uma novidade sobre sua conta.{{/if}}"
            + OPT_OUT_LINE + " {{empresa}}",
            "{{nome}}, {{#if mensagem}}{{mensagem}}{{else}}temos uma atualização para você.{{/if}}"
            + OPT_OUT_LINE + " {{empresa}}",
        ],
    ),
}

# The variables the default templates use beyond the built-in ones, declared so that template checks
# know them (any other variable the ERP sends stays allowed).
DEFAULT_SCHEMAS: dict[TemplateType, dict[str, object]] = {
    TemplateType.NOTIFICATION: {
        "type": "object",
        "properties": {"mensagem": {"type": "string", "maxLength": 1000}},
    },
}
