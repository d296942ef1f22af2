"""The pt-BR templates every new tenant starts with (three variations per type, to vary wording)."""

from __future__ import annotations

from billing.domain.states import TemplateType

DEFAULT_TEMPLATES: dict[TemplateType, tuple[str, list[str]]] = {
    TemplateType.OVERDUE: (
        "cobranca-padrao",
        [
            "Olá, {{nome}}! Identificamos que a fatura {{#if fatura}}*{{fatura}}* {{/if}}no valor de *{{valor}}*, "
            "vencida em {{vencimento}}, está em aberto há {{dias_atraso}} dia(s)."
            "{{#if link_pagamento}} Para pagar: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX copia e cola: {{codigo_pix}}{{/if}}"
            " Se já pagou, desconsidere. {{empresa}}",
            "Oi, {{nome}}, tudo bem? Lembramos que o pagamento de *{{valor}}* com vencimento em {{vencimento}} "
            "ainda não foi identificado ({{dias_atraso}} dia(s) de atraso)."
            "{{#if link_pagamento}} Link para pagamento: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX: {{codigo_pix}}{{/if}}"
            " Qualquer dúvida, estamos à disposição. {{empresa}}",
            "{{nome}}, consta em aberto o valor de *{{valor}}*{{#if fatura}} referente à fatura {{fatura}}{{/if}}, "
            "vencido em {{vencimento}}."
            "{{#if link_pagamento}} Você pode regularizar por aqui: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} Ou pelo PIX: {{codigo_pix}}{{/if}}"
            " Caso já tenha pago, por favor ignore esta mensagem. {{empresa}}",
        ],
    ),
    TemplateType.UPCOMING: (
        "lembrete-vencimento",
        [
            "Olá, {{nome}}! {{#if vence_hoje}}Sua fatura de *{{valor}}* vence *hoje*.{{else}}Sua fatura de "
            "*{{valor}}* vence em {{vencimento}} (daqui a {{dias_para_vencer}} dia(s)).{{/if}}"
            "{{#if link_pagamento}} Para pagar: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX copia e cola: {{codigo_pix}}{{/if}} {{empresa}}",
            "Oi, {{nome}}, passando para lembrar do vencimento em {{vencimento}} no valor de *{{valor}}*."
            "{{#if link_pagamento}} Link: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX: {{codigo_pix}}{{/if}} Obrigado! {{empresa}}",
            "{{nome}}, sua próxima fatura{{#if fatura}} ({{fatura}}){{/if}} de *{{valor}}* vence em {{vencimento}}."
            "{{#if link_pagamento}} Pague com antecedência: {{link_pagamento}}{{/if}}"
            "{{#if codigo_pix}} PIX: {{codigo_pix}}{{/if}} {{empresa}}",
        ],
    ),
    TemplateType.NOTIFICATION: (
        "aviso-padrao",
        [
            "Olá, {{nome}}! {{#if mensagem}}{{mensagem}}{{else}}Temos um aviso importante sobre sua conta."
            "{{/if}} {{empresa}}",
            "Oi, {{nome}}. {{#if mensagem}}{{mensagem}}{{else}}Há uma novidade sobre sua conta.{{/if}} {{empresa}}",
            "{{nome}}, {{#if mensagem}}{{mensagem}}{{else}}temos uma atualização para você.{{/if}} {{empresa}}",
        ],
    ),
}
