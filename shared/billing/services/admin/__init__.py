"""Administration: tenants, configuration, hours, instances, API keys and templates.

One import for every door (``from billing.services import admin``): tenants, configuration and hours
live in ``tenants``, instances and API keys in ``credentials``, templates in ``templates``, lookups
in ``lookups``.
"""

from billing.services.admin.credentials import (
    Ensured,
    add_instance,
    create_api_key,
    ensure_api_key,
    ensure_instance,
    new_webhook_secret,
    remove_instance,
    resume_instance_queues,
    revoke_api_key,
    rotate_gateway_keys,
    update_instance,
)
from billing.services.admin.lookups import get_config, resolve_instance, resolve_tenant
from billing.services.admin.templates import MAX_VARIATIONS, add_template, edit_variation, set_variation_enabled
from billing.services.admin.tenants import (
    add_closed_date,
    create_tenant,
    ensure_tenant,
    public_dict,
    remove_hours,
    set_config,
    set_hours,
)

__all__ = [
    "MAX_VARIATIONS",
    "Ensured",
    "add_closed_date",
    "add_instance",
    "add_template",
    "create_api_key",
    "create_tenant",
    "edit_variation",
    "ensure_api_key",
    "ensure_instance",
    "ensure_tenant",
    "get_config",
    "new_webhook_secret",
    "public_dict",
    "remove_hours",
    "remove_instance",
    "resolve_instance",
    "resolve_tenant",
    "resume_instance_queues",
    "revoke_api_key",
    "rotate_gateway_keys",
    "set_config",
    "set_hours",
    "set_variation_enabled",
    "update_instance",
]
