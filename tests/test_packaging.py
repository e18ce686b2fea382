"""The built wheel carries registry.yaml and every in-tree plugin.

The wheel is installed with --no-deps into a fresh venv that sees the test environment's packages
through a .pth line (never a second multi-GB install). Such a line adds the folder to sys.path but
does not run its .pth files, so the editable install of this checkout stays out of the way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_finds_its_registry(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "dcbench-results", "__pycache__", "*.egg-info", "build", "dist", ".*cache"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True)
    [wheel] = dist.glob("dcbench-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DCBENCH_REGISTRY")}
    probe = ("import dcbench, dcbench_nets, dcbench_vision, dcbench_coresets;"
             "from dcbench.registry import registry_path, get_registry;"
             "r = get_registry(); print(dcbench.__file__); print(registry_path());"
             "print(r.condenser('random').spec.name, r.architecture('convnet').spec.family,"
             " r.dataset('digits').spec.name)")
    lines = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True, env=env,
                           cwd=tmp_path).stdout.split("\n")
    assert lines[0].startswith(str(site)), "dcbench must come from the wheel, not the checkout"
    assert lines[1] == str(site / "dcbench" / "registry.yaml")
    assert lines[2] == "random convnet digits"
    listed = subprocess.run([str(env_dir / "bin" / "dcbench"), "list", "profiles"], check=True, capture_output=True,
                            text=True, env=env, cwd=tmp_path).stdout
    assert "smoke" in listed and "paper" in listed
