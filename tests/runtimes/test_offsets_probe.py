"""The 3.11/3.12 offset tables equal what the compiler says for the real headers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runtimes.python.offsets import TABLES

from .conftest import PY_VERSIONS, PYENV

PROBE = Path(__file__).with_name("offsets_probe.c")


@pytest.mark.parametrize("minor", sorted(PY_VERSIONS))
def test_table_matches_headers(tmp_path, minor):
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    inc = PYENV / PY_VERSIONS[minor] / "include" / f"python{minor}"
    if not inc.exists():
        pytest.skip(f"no headers for {minor}")
    exe = tmp_path / "probe"
    subprocess.run(["gcc", f"-I{inc}", f"-I{inc}/internal", "-o", exe, PROBE], check=True)
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    table = TABLES[(3, int(minor[2:]))]
    for line in out.splitlines():
        key, value = line.split()
        attr = key.replace(".", "_").replace("code_code_adaptive", "code_adaptive")
        assert getattr(table, attr) == int(value), key
