# Everything a fresh machine needs: `make demo` (a real local training run) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.stjob-installed
HELM := .cache/bin/helm
EXTRAS := operator,trainer,dev,tensorboard,plot
# Where torch comes from, besides pip's own configuration. The default adds PyTorch's CPU-only index
# (~200 MB; PyPI's Linux wheels pull multi-GB CUDA libraries). For an NVIDIA GPU:
#   make venv TORCH_INDEX=https://download.pytorch.org/whl/cu128
# Empty (TORCH_INDEX=) leaves it to pip's configuration alone: PyPI, a mirror or a local wheel folder.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Offline by design: tests and the demo never reach a model hub.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

.PHONY: help venv constraints demo test lint unit crd crd-check helm kube images browser e2e bench clean

help:
	@echo "make demo   - train all-MiniLM-L6-v2 on the bundled SICK sample (CPU, a few minutes)"
	@echo "make test   - lint, type-check and run the whole test suite (what CI runs)"
	@echo "make lint   - ruff, mypy, import-linter only"
	@echo "make crd    - regenerate crds/ and the chart's CRD from the pydantic models"
	@echo "make kube   - build (or reuse) the real Kubernetes API servers the kube tier starts (~20 min cold)"
	@echo "make images - build (or reuse) the operator and trainer images with buildah (~10 min cold)"
	@echo "make e2e    - the real-cluster tier (needs KUBECONFIG pointing at a cluster)"

venv: $(STAMP)

# torch first, at its pin, from TORCH_INDEX; then everything else at the versions in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

# Re-pin every package to its newest release allowed by pyproject.toml (review, `make test`, commit).
constraints:
	EXTRAS=$(EXTRAS) TORCH_INDEX=$(TORCH_INDEX) PYTHON=$(PYTHON) bash scripts/update-constraints.sh

$(HELM):
	bash scripts/fetch-helm.sh $(dir $(HELM))

helm: $(HELM)

# Real kube-apiserver/controller-manager 1.20 and Kubernetes 1.36's CRD server, built from Debian sources
# and cached under ~/.cache/stjob (never in the clone); a warm cache makes this a no-op.
kube:
	bash scripts/kube-build.sh >/dev/null

# Both images from the committed Dockerfiles with buildah/podman (no Docker, no registry); the base image,
# layers and logs are cached under ~/.cache/stjob/images (never in the clone). Needs root (apt, buildah).
images:
	bash scripts/images.sh >/dev/null

# Debian's chromium for the page's browser tests (tests/ui/test_browser.py); installs it or fails.
browser:
	bash scripts/browser.sh

demo: venv
	$(OFFLINE) $(VENV)/bin/stjob train examples/local/demo.yaml --output-dir runs/demo

lint: venv
	$(VENV)/bin/ruff check operator trainer_image tests bench
	$(VENV)/bin/ruff format --check operator trainer_image tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv helm
	OMP_NUM_THREADS=1 $(OFFLINE) $(PY) -m pytest -m "not slow and not kube and not images and not browser"

test: venv helm kube images browser lint
	OMP_NUM_THREADS=1 $(OFFLINE) PATH="$(CURDIR)/.cache/bin:$$PATH" $(PY) -m pytest

crd: venv
	$(VENV)/bin/stjob crd > crds/stjob.dev_sentencetransformerjobs.yaml
	cp crds/stjob.dev_sentencetransformerjobs.yaml helm/stjob-operator/files/crds/

e2e: venv
	$(PY) -m pytest tests/e2e -m e2e

bench: venv
	@echo "see bench/README.md for one command per benchmark"

clean:
	rm -rf runs .cache build *.egg-info
