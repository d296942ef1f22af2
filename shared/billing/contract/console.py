"""Who is signed in to the web console, and what their role lets them do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from billing.contract.queues import Actor
from billing.errors import NotFoundError, PermissionDeniedError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
# What each role may do beyond reading: "act" on queues and conversations, "manage" the tenant's setup.
_RANK = {"viewer": 0, "operator": 1, "admin": 2}
ABILITY_RANK = {"read": 0, "act": 1, "manage": 2}
Ability = Literal["read", "act", "manage"]

ROLE_WORDS = {"viewer": "leitura", "operator": "operador", "admin": "administrador"}
ABILITY_WORDS = {"act": "agir em filas e conversas", "manage": "administrar o tenant"}


@dataclass(frozen=True)
class OperatorIdentity:
    """A signed-in console operator. ``tenant_id`` None: an operator of every tenant."""

    id: uuid.UUID
    email: str
    role: Role
    tenant_id: uuid.UUID | None
    session_epoch: int

    def can(self, ability: Ability) -> bool:
        return _RANK[self.role] >= ABILITY_RANK[ability]

    def require(self, ability: Ability) -> None:
        if not self.can(ability):
            raise PermissionDeniedError(
                f"seu papel ({ROLE_WORDS[self.role]}) não permite {ABILITY_WORDS.get(ability, ability)}"
            )

    def require_tenant(self, tenant_id: uuid.UUID) -> None:
        """Another tenant's rows do not exist for this operator (404, not 403: nothing leaks)."""
        if self.tenant_id is not None and self.tenant_id != tenant_id:
            raise NotFoundError("não encontrado")

    def actor(self, tenant_id: uuid.UUID, client_ip: str | None = None) -> Actor:
        """The use cases' view of this operator acting on one tenant (audited with the email)."""
        self.require_tenant(tenant_id)
        return Actor(tenant_id=tenant_id, client_ip=client_ip, operator=f"console:{self.email}")
