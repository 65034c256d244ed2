"""A job written for the cluster, run on this machine (``stjob train``): what has to give, said out loud."""

from __future__ import annotations

import logging

from stjob.api import SentenceTransformerJob

logger = logging.getLogger(__name__)


def fit_to_this_machine(job: SentenceTransformerJob, *, cuda_available: bool) -> SentenceTransformerJob:
    """The job to run here: without a CUDA GPU, a job asking for GPUs trains on the CPU, in fp32.

    Mixed precision goes too: fp16 needs a GPU, and bf16 on a CPU is slow on most CPUs. Everything else
    (data, model, loss, hyperparameters) stays as written, so a local run is a faithful smoke test.
    """
    spec = job.spec
    if spec.resources.gpus == 0 or cuda_available:
        return job
    dropped = (
        f", and mixedPrecision {spec.training.mixed_precision} with it"
        if spec.training.mixed_precision != "none"
        else ""
    )
    logger.warning(
        "resources.gpus is %d but this machine has no CUDA GPU: training on the CPU%s", spec.resources.gpus, dropped
    )
    resources = spec.resources.model_copy(update={"gpus": 0})
    training = spec.training.model_copy(update={"mixed_precision": "none"})
    return job.model_copy(update={"spec": spec.model_copy(update={"resources": resources, "training": training})})
