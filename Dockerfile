# syntax=docker/dockerfile:1
# The operator image: ghcr.io/stjob/operator:<version>. Only the `operator` extra (Kopf, kubernetes,
# prometheus-client): never torch. Build from the repository root:
#   docker build -t ghcr.io/stjob/operator:0.1.0 .
# Release builds pin the base by digest as well, e.g.
#   FROM python:3.11.14-slim-bookworm@sha256:<digest from `docker buildx imagetools inspect`>
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator/ operator/
COPY trainer_image/stjob_trainer/ trainer_image/stjob_trainer/
# constraints.txt pins torch; the operator extra must not pull it at all (checked right after).
RUN /opt/venv/bin/pip install --no-cache-dir -c constraints.txt ".[operator]" \
    && /opt/venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="stjob-operator" \
      org.opencontainers.image.description="Kopf operator for SentenceTransformerJob resources" \
      org.opencontainers.image.source="https://github.com/stjob/stjob" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
# uid/gid 1000 as the chart's securityContext expects; no shell login, no home on the read-only root.
RUN groupadd --gid 1000 stjob && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin stjob
USER 1000:1000
# 8080: Prometheus /metrics (STJOB_METRICS_PORT), 8081: Kopf /healthz (STJOB_HEALTH_PORT).
EXPOSE 8080 8081
ENTRYPOINT ["stjob-operator"]
