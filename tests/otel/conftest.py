"""Fixtures for the flamecam_otel tests: a virtual environment per CPython.

An app that uses the add-on has its own interpreter and its own OpenTelemetry
install. For each pyenv CPython (3.11, 3.12, 3.13) a venv is built once and
cached in pytest's cache directory (.pytest_cache/d/otel-venvs), keyed by the
interpreter, the pins and the add-on's pyproject: the OpenTelemetry packages
pinned in this repo's test extras, from PyPI, and the add-on installed from
otel-addon/ in editable mode (so its entry points are registered as a user's
pip install would, and its code is this tree's).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from tests.runtimes.conftest import python_bin, spawn, wait_for_line  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "otel-addon"
sys.path.insert(0, str(ADDON / "src"))  # in-process tests import this tree's add-on

# What an app beside the add-on needs, by name; versions come from pyproject.toml.
# Flask, waitress, the Flask instrumentation and the OTLP/HTTP exporter are for
# the known-answer app (tests/workloads/trace_app.py).
VENV_PACKAGES = ("opentelemetry-sdk", "opentelemetry-instrumentation",
                 "opentelemetry-instrumentation-threading", "setuptools",
                 "opentelemetry-exporter-otlp-proto-http", "opentelemetry-instrumentation-flask",
                 "flask", "waitress")


def venv_pins() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {re.split(r"[=<>~!\[ ]", req, maxsplit=1)[0].lower(): req
            for req in [*project["dependencies"], *project["optional-dependencies"]["test"]]}
    missing = [name for name in VENV_PACKAGES if name not in pins]
    assert not missing, f"pin {missing} in pyproject.toml"
    return [pins[name] for name in VENV_PACKAGES]


def app_venv(cache_dir: Path, minor: str) -> Path:
    """The venv for CPython `minor` with the add-on installed; built on first use."""
    exe = python_bin(minor)
    pins = venv_pins()
    key = hashlib.sha256("\n".join([str(exe), str(ADDON), *pins,
                                    (ADDON / "pyproject.toml").read_text()]).encode())
    venv = cache_dir / f"{minor}-{key.hexdigest()[:12]}"
    with open(cache_dir / f"{minor}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").exists():
            subprocess.run([exe, "-m", "venv", "--clear", venv], check=True)
            pip = [venv / "bin" / "python", "-m", "pip", "install", "-q",
                   "--disable-pip-version-check"]
            subprocess.run([*pip, *pins], check=True, timeout=600)
            subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", ADDON],
                           check=True, timeout=300)
            (venv / "ready").write_text("\n".join(pins))
    return venv


@pytest.fixture(scope="session")
def otel_venvs(request: pytest.FixtureRequest):
    """minor -> venv path, built lazily and cached across sessions."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache_dir = Path(cache.mkdir("otel-venvs")) if cache is not None else \
        Path(tempfile.gettempdir()) / "flamecam-otel-venvs"
    cache_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}

    def get(minor: str) -> Path:
        if minor not in built:
            built[minor] = app_venv(cache_dir, minor)
        return built[minor]

    return get
