"""The dependency lock (requirements/, made by ``make lock``) is what is installed, and it is current.

A fresh machine installs exactly these versions (scripts/setup.sh, ``--require-hashes``); these tests
fail when the environment drifted from the lock (e.g. an unpinned upgrade slipped in) or when
pyproject.toml asks for something the lock does not satisfy (``make lock`` was not re-run).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = [ROOT / "requirements" / name for name in ("lock.txt", "nodeps.txt")]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for path in LOCKS:
        text = path.read_text(encoding="utf-8")
        for name, version in _PIN.findall(text):
            pins[canonicalize_name(name)] = version
        # every pinned line carries a hash: pip refuses the file otherwise, but say it here first
        for block in re.split(r"\n(?=[A-Za-z0-9])", text):
            if _PIN.match(block):
                assert "--hash=sha256:" in block, f"{path.name}: no hash for {block.splitlines()[0]}"
    return pins


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    pins = _locked()
    assert len(pins) > 100 and "opencv-python-headless" in pins and "torch" in pins
    drifted = []
    for name, version in sorted(pins.items()):
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            drifted.append(f"{name}: locked {version}, not installed")
            continue
        if Version(installed) != Version(version):
            drifted.append(f"{name}: locked {version}, installed {installed}")
    assert not drifted, "environment differs from requirements/ (run scripts/setup.sh):\n" + "\n".join(drifted)


def test_opencv_is_below_the_release_that_removed_the_tensorflow_importer() -> None:
    version = Version(_locked()["opencv-python-headless"])
    assert version < Version("5.1"), "OpenCV 5.1 removed cv2.dnn.readNetFromTensorflow (the COCO detector)"
    cv2 = pytest.importorskip("cv2")
    assert hasattr(cv2.dnn, "readNetFromTensorflow")


def test_the_lock_satisfies_pyproject() -> None:
    """Every requirement of pyproject.toml (core and every extra) is pinned, at a version it accepts."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.extend(extra)
    pins = _locked()
    stale = []
    for raw in reqs:
        req = Requirement(raw)
        if (req.marker is not None and not req.marker.evaluate()) or req.name == project["name"]:
            continue  # (an extra that names other extras of the project itself)
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            stale.append(f"{raw}: lock has {pinned}")
    assert not stale, "requirements/ is stale (run `make lock`):\n" + "\n".join(stale)


def test_the_perceiver_packages_are_the_locked_no_deps_ones() -> None:
    """`vimrag models install` (the wheel path) and scripts/setup.sh (the checkout) install the same pins."""
    from vimrag.models.registry import PERCEPTION_PACKAGES, REGISTRY

    nodeps = {line.split()[0] for line in (ROOT / "requirements" / "nodeps.in").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    llm_packages = {p for e in REGISTRY.values() for p in e.packages}
    assert set(PERCEPTION_PACKAGES) == nodeps - llm_packages
