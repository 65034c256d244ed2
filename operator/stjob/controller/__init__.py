"""The stjob operator: Kopf handlers over pure builders and status logic.

Layers (enforced by ``.importlinter``): ``naming``, ``settings``, ``builders``, ``ownership``,
``termination``, ``conditions``, ``status_logic`` and ``validation`` are pure (no Kopf, no Kubernetes
client); ``kube_api`` talks to the API server; ``reconciler`` combines both; ``handlers`` and ``main``
are the Kopf shell.
"""
