"""A signed-in console client for integration tests: the console function's own Flask test client,
with the session cookie it set and the CSRF token of the last page it read."""

from __future__ import annotations

import re
import uuid
from typing import Any

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "senha-de-teste-123"


def make_operator(email: str, *, role: str = "operator", tenant_id: uuid.UUID | None, password: str = PASSWORD) -> str:
    """A committed operator of ``tenant_id`` (None: every tenant); answers the password."""
    from billing.db.engine import unit_of_work
    from billing.services.console.operators import create_operator

    with unit_of_work() as uow:
        create_operator(session=uow.session, email=email, role=role, tenant_id=tenant_id, password=password)
        uow.commit()
    return password


class ConsoleClient:
    def __init__(self) -> None:
        from functions_framework import create_app

        self.client = create_app(target="console", source="functions/console/main.py").test_client()
        self.csrf: str | None = None

    def _remember(self, response: Any) -> Any:
        found = CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._remember(self.client.get(path, **kwargs))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any) -> Any:
        form = dict(data or {})
        if csrf and "csrf_token" not in form:
            assert self.csrf, "read a page (get) before posting a form"
            form["csrf_token"] = self.csrf
        return self._remember(self.client.post(path, data=form, **kwargs))

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        self.get("/console/login")
        answer = self.post("/console/login", {"email": email, "password": password, "next": "/console/"})
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
        self.get("/console/")
        return answer


def signed_in(email: str, *, role: str = "operator", tenant_id: uuid.UUID | None) -> ConsoleClient:
    """A client signed in as a new operator."""
    make_operator(email, role=role, tenant_id=tenant_id)
    console = ConsoleClient()
    console.sign_in(email)
    return console
