"""Every console route, one module per page group (the order only matters for overlapping patterns)."""

from __future__ import annotations

from billing.http.console import login
from billing.http.console.pages import inbox, instances, queues, settings, templates

ROUTES = (*login.ROUTES, *queues.ROUTES, *inbox.ROUTES, *instances.ROUTES, *templates.ROUTES, *settings.ROUTES)
