"""(page group under construction)"""

from __future__ import annotations

from billing.http.console.app import Route

ROUTES: tuple[Route, ...] = ()
