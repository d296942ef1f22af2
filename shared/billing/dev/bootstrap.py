"""The demo tenant ``billing dev`` creates on first run, and refreshes on later runs."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from sqlmodel import Session, select

from billing.config import get_settings
from billing.db.engine import unit_of_work
from billing.db.models import ApiKey, Tenant, WhatsAppInstance
from billing.services import admin

logger = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_INSTANCE = "demo"
DEMO_GATEWAY_KEY = "demo-gateway-key"  # the simulator's token for the demo instance
DEMO_WEBHOOK_SECRET = "demo-webhook-secret-for-billing-dev-only"  # noqa: S105 - development only
DEMO_OPERATOR = "admin@demo.example"  # the console's demo operator (admin of the demo tenant)
OPERATOR_FILE = "dev-operator-password.txt"
KEY_FILE = "demo-api-key"


@dataclass(frozen=True)
class Demo:
    tenant_id: str
    instance_id: str
    api_key: str
    operator_email: str = DEMO_OPERATOR
    operator_password: str = ""


def ensure_demo(*, gateway_url: str, gateway_key: str, data_dir: Path) -> Demo:
    """Create the demo tenant, instance and API key once; point the instance at this run's gateway.

    The API key is shown once by design, so the development key is kept in ``data_dir`` to print it
    again on every run (never do this outside development).
    """
    secret = get_settings().billing_secret_key.get_secret_value()
    key_path = data_dir / KEY_FILE
    with unit_of_work() as uow:
        session = uow.session
        tenant = session.exec(select(Tenant).where(Tenant.name == DEMO_TENANT)).first()
        if tenant is None:
            tenant = admin.create_tenant(DEMO_TENANT, session=session, display_name="Loja Demo")
            # Open every day around the clock so a newcomer sees messages at any hour.
            admin.set_hours(tenant, session=session, weekdays=range(7), start=time(0, 0), end=time(23, 59, 59))
            admin.set_config(tenant, session=session, throttle_per_minute=60, jitter_s=0.0)
            logger.info("created the demo tenant", extra={"action": "dev.demo_created"})
        inst = session.exec(
            select(WhatsAppInstance).where(
                WhatsAppInstance.tenant_id == tenant.id, WhatsAppInstance.name == DEMO_INSTANCE
            )
        ).first()
        if inst is None:
            inst = admin.add_instance(
                tenant,
                session=session,
                name=DEMO_INSTANCE,
                url=gateway_url,
                api_key=gateway_key,
                secret_key=secret,
                default=True,
                webhook_secret=DEMO_WEBHOOK_SECRET,
            )
        else:
            admin.update_instance(inst, session=session, secret_key=secret, url=gateway_url, api_key=gateway_key)
        plaintext = key_path.read_text().strip() if key_path.exists() else ""
        if not plaintext:
            existing = [k for k in session.exec(select(ApiKey).where(ApiKey.tenant_id == tenant.id))]
            name = f"dev-{len(existing) + 1}"
            _, plaintext = admin.create_api_key(tenant, session=session, name=name)
            key_path.write_text(plaintext + "\n")
            key_path.chmod(0o600)
        password = _ensure_operator(session, tenant.id, data_dir / OPERATOR_FILE)
        uow.commit()
        return Demo(str(tenant.id), str(inst.id), plaintext, DEMO_OPERATOR, password)


def _ensure_operator(session: Session, tenant_id: uuid.UUID, path: Path) -> str:
    """The demo operator, created once; its password is kept in ``path`` to print it on every run
    (development only, like the demo key)."""
    from billing.services.console.operators import create_operator

    password = path.read_text().strip() if path.exists() else ""
    created = create_operator(
        session=session,
        email=DEMO_OPERATOR,
        role="admin",
        tenant_id=tenant_id,
        password=password or None,
        if_missing=True,
    )
    if created is not None and not password:
        password = created.password
        path.write_text(password + "\n")
        path.chmod(0o600)
    return password
