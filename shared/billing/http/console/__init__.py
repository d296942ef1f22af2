"""The operator console: server-rendered pages for the finance team (docs/console.md).

``app.handle`` is the ``console`` function's whole entry; ``session`` signs the cookies and CSRF
tokens; ``pages`` holds one module per page group, each a tuple of routes that parse the form, call one
use case of ``billing.services.console`` and render a template.
"""
