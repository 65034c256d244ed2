"""``stjob ui``: a local web page over the user's own kubeconfig (their RBAC is the page's RBAC).

Layers: ``source`` talks to the API server (or a fake in tests), ``render`` turns dicts into escaped HTML
(pure), ``app`` wires both into a Starlette application with CSRF-checked actions.
"""
