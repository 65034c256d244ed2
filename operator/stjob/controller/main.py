"""``stjob-operator``: load the STJOB_* settings and the cluster credentials, then run Kopf."""

from __future__ import annotations

import argparse
import gc
import logging

import kopf
import kubernetes

from stjob.controller.handlers import register
from stjob.controller.settings import OperatorSettings

logger = logging.getLogger(__name__)


def load_kube_configuration() -> None:
    """In-cluster service account first, else the kubeconfig (``KUBECONFIG`` or ~/.kube/config)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()


#: Allocations between two young-generation garbage collections (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Fewer collections, none of them walking the startup heap.

    Each watch event and reconcile allocates thousands of short-lived dicts: at Python's default
    threshold a young collection ran every few events and a full one walked the ~90,000 objects of the
    imported modules (Kopf, kubernetes, pydantic), about 11% of the operator's CPU per job lifecycle in
    bench/operator_production.py; frozen and with this threshold, about 3%. The short-lived objects
    mostly die by reference counting before a collection sees them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)


def liveness_endpoint(settings: OperatorSettings) -> str | None:
    """Kopf's liveness probe URL (``/healthz``), or None when disabled."""
    return f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None


def argument_parser() -> argparse.ArgumentParser:
    """No arguments: every setting is an environment variable; ``--help`` lists them."""
    prefix = OperatorSettings.model_config.get("env_prefix", "")
    fields = OperatorSettings.model_fields
    lines = [f"  {prefix}{name.upper():<32} {field.description}" for name, field in fields.items()]
    return argparse.ArgumentParser(
        prog="stjob-operator",
        description="Run the stjob operator (Kopf) until SIGTERM.",
        epilog="settings (environment variables):\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the operator until SIGTERM/SIGINT (Kopf standalone: replicas elect a leader with a Lease instead)."""
    # Before any credential is loaded, so that `--help` works anywhere.
    argument_parser().parse_args(argv)
    settings = OperatorSettings()
    kopf.configure(log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN)
    # Kopf logs "Handler ... succeeded" at INFO for every watch event; keep its warnings and errors.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    load_kube_configuration()
    # Kopf's default registry also carries its login handlers (the same kubeconfig / in-cluster token).
    registry = kopf.get_default_registry()
    register(registry, settings)
    tune_garbage_collector()
    logger.info("watching %s", ", ".join(settings.namespace_list) or "all namespaces")
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=settings.clusterwide,
        namespaces=settings.namespace_list,
        liveness_endpoint=liveness_endpoint(settings),
    )


if __name__ == "__main__":
    main()
