"""The stjob operator: Kopf handlers over a reconciler over pure builders and status logic.

It uses the shared core (``stjob.api``, ``stjob.errors``) and never the trainer. Layers, top to bottom
(enforced by ``.importlinter``): ``main``; ``handlers`` (the Kopf shell); ``control_loop``, ``leadership``;
``events``; ``reconciler``, ``bookkeeping``, ``metrics``; ``kube_api`` (the API server, over ``http1``), ``workqueue``;
then the pure modules, with no Kopf and no Kubernetes client: ``builders``, ``status_logic``, ``observed``,
``applied_spec``, ``validation``, ``naming``, ``settings``, ``ownership``, ``conditions``, ``termination``.
"""
