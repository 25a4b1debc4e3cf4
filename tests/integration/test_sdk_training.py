"""auditml.sdk training: `model.trained` only for a block that ends normally, with the git commit."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from auditml import Ledger, ValidationError
from auditml.events.payloads import validate_payload
from auditml.sdk import code_version as code_version_module
from auditml.sdk import git_revision, record_training, training_run


class FakeDtype:
    def __init__(self, kind: str) -> None:
        self.kind = kind


class FakeScalar:
    """Quacks like a numpy scalar: dtype, ndim 0, item()."""

    ndim = 0

    def __init__(self, value: object, kind: str = "f") -> None:
        self.value, self.dtype = value, FakeDtype(kind)

    def item(self) -> object:
        return self.value


class FakeArray:
    """Quacks like a 1-d numpy array: dtype, ndim 1, tolist()."""

    ndim = 1

    def __init__(self, values: list[object]) -> None:
        self.values, self.dtype = values, FakeDtype("f")

    def tolist(self) -> list[object]:
        return list(self.values)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(autouse=True)
def no_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as from a notebook: no ``__main__`` file, so the working directory is the
    default code directory (under pytest, ``__main__`` is pytest's own script)."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def run_as_script(monkeypatch: pytest.MonkeyPatch, script: Path) -> None:
    """Make `script` the ``__main__`` file, as ``python script`` would."""
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit, as the working directory."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    git(root, "init", "-q")
    git(root, "config", "user.email", "ml@example.com")
    git(root, "config", "user.name", "ML")
    (root / "train.py").write_text("print('train')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "training code")
    monkeypatch.chdir(root)
    return root


def trained(ledger: Ledger) -> list[dict[str, Any]]:
    found = [event.payload for event in ledger.events(type="model.trained")]
    for payload in found:
        validate_payload("model.trained", payload, where="read back")
    return found


def test_a_run_that_ends_normally_records_everything(ledger: Ledger, repo: Path) -> None:
    artifact = repo.parent / "model.pkl"  # outside the repository: the tree stays clean
    artifact.write_bytes(b"pickled model")
    commit = git(repo, "rev-parse", "HEAD")
    with training_run(
        ledger, model="credit", version="3.2", datasets=["loans-2025", "bureau-2025"]
    ) as run:
        run.log_params({"max_depth": FakeScalar(6, "i"), "lr": 0.1})
        run.log_params(n_estimators=300)
        run.log_metrics({"auc": FakeScalar(0.91), "per_fold": FakeArray([0.9, 0.92])})
        run.log_metrics(auc=0.915)  # a repeated name keeps the last value
        assert run.set_artifact(artifact) == hashlib.sha256(b"pickled model").hexdigest()
        assert run.receipt is None  # nothing is recorded until the block ends
        assert len(ledger) == 0
    assert run.receipt is not None and run.code_version == commit
    assert trained(ledger) == [
        {
            "model": "credit",
            "version": "3.2",
            "datasets": ["dataset:loans-2025", "dataset:bureau-2025"],
            "code_version": commit,
            "params": {"max_depth": 6, "lr": 0.1, "n_estimators": 300},
            "metrics": {"auc": 0.915, "per_fold": [0.9, 0.92]},
            "artifact_sha256": hashlib.sha256(b"pickled model").hexdigest(),
        }
    ]
    assert ledger.get(run.receipt.id).seq == run.receipt.seq


def test_a_run_that_raises_records_nothing_and_the_error_propagates(
    ledger: Ledger, repo: Path
) -> None:
    error = RuntimeError("CUDA out of memory")
    with (
        pytest.raises(RuntimeError) as raised,
        training_run(ledger, model="credit", version="3.3", datasets="loans-2025") as run,
    ):
        run.log_metrics(auc=0.5)
        run.set_artifact("ab" * 32)
        raise error
    assert raised.value is error  # unchanged, not wrapped
    assert len(ledger) == 0 and run.receipt is None


def test_uncommitted_changes_mark_the_commit_dirty(ledger: Ledger, repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print('changed')\n")
    assert git_revision() == f"{commit}-dirty"
    with training_run(ledger, model="m", version="1", datasets="d") as run:
        run.set_artifact("ab" * 32)
    assert trained(ledger)[0]["code_version"] == f"{commit}-dirty"
    # An explicit code version wins over detection.
    with training_run(ledger, model="m", version="2", datasets="d", code_version="v1.2.0") as run:
        run.set_artifact("ab" * 32)
    assert trained(ledger)[1]["code_version"] == "v1.2.0"


def test_outside_a_repository_or_without_git_the_code_version_is_absent(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_revision(tmp_path) is None
    with training_run(ledger, model="m", version="1", datasets="d") as run:
        run.set_artifact("ab" * 32)
    assert "code_version" not in trained(ledger)[0]
    monkeypatch.setattr(code_version_module.shutil, "which", lambda name: None)
    assert git_revision() is None


def test_the_commit_is_of_the_scripts_directory_whatever_the_working_directory(
    ledger: Ledger, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    elsewhere = tmp_path / "jobs"  # not in a repository (GIT_CEILING_DIRECTORIES)
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert git_revision() is None
    run_as_script(monkeypatch, repo / "train.py")  # python ~/project/train.py
    with training_run(ledger, model="m", version="1", datasets="d") as run:
        run.set_artifact("ab" * 32)
    assert run.code_dir == str(repo)
    assert trained(ledger)[0]["code_version"] == commit
    # A script outside any repository records no code version, even from inside one.
    monkeypatch.chdir(repo)
    run_as_script(monkeypatch, elsewhere / "train.py")
    with training_run(ledger, model="m", version="2", datasets="d") as run:
        run.set_artifact("ab" * 32)
    assert "code_version" not in trained(ledger)[1]


def test_code_dir_names_the_checkout_to_record(
    ledger: Ledger, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    monkeypatch.chdir(tmp_path)
    run_as_script(monkeypatch, tmp_path / "launcher.py")  # not in the repository
    with training_run(ledger, model="m", version="1", datasets="d", code_dir=repo) as run:
        run.set_artifact("ab" * 32)
    assert run.code_dir == str(repo) and trained(ledger)[0]["code_version"] == commit
    # An explicit code version wins over code_dir.
    with training_run(
        ledger, model="m", version="2", datasets="d", code_dir=str(repo), code_version="v2"
    ) as run:
        run.set_artifact("ab" * 32)
    assert trained(ledger)[1]["code_version"] == "v2"
    with pytest.raises(ValidationError, match=r"training_run: code_dir '.*missing' is not an exi"):
        training_run(ledger, model="m", version="3", datasets="d", code_dir=tmp_path / "missing")
    with pytest.raises(ValidationError, match="code_dir must be a directory path, got 3"):
        training_run(ledger, model="m", version="3", datasets="d", code_dir=3)  # type: ignore[arg-type]
    assert len(ledger) == 2


def test_a_block_without_an_artifact_is_refused_on_exit(ledger: Ledger, repo: Path) -> None:
    with (
        pytest.raises(ValidationError, match=r"without run.set_artifact"),
        training_run(ledger, model="credit", version="3.2", datasets="loans") as run,
    ):
        run.log_metrics(auc=0.9)
    assert len(ledger) == 0


def test_values_that_are_not_json_are_refused_where_they_are_logged(
    ledger: Ledger, repo: Path
) -> None:
    with training_run(ledger, model="credit", version="3.2", datasets="loans") as run:
        with pytest.raises(ValidationError, match=r"log_metrics: metrics.*NaN"):
            run.log_metrics(auc=float("nan"))
        with pytest.raises(ValidationError, match="log_params: params.*not JSON"):
            run.log_params(callback=object())
        run.set_artifact("ab" * 32)
    assert trained(ledger)[0]["metrics"] == {}
    with pytest.raises(ValidationError, match="datasets needs at least 1"):
        training_run(ledger, model="credit", version="3.2", datasets=[])


def test_record_training_in_one_call(ledger: Ledger, tmp_path: Path) -> None:
    artifact = tmp_path / "saved_model"
    (artifact / "variables").mkdir(parents=True)
    (artifact / "saved_model.pb").write_bytes(b"graph")
    (artifact / "variables" / "v.data").write_bytes(b"weights")
    receipt = record_training(
        ledger,
        model="credit",
        version="3.2",
        datasets="loans-2025",
        artifact=artifact,
        metrics={"auc": 0.91},
        id="train-credit-3.2",
    )
    again = record_training(
        ledger,
        model="credit",
        version="3.2",
        datasets="loans-2025",
        artifact=artifact,
        metrics={"auc": 0.91},
        id="train-credit-3.2",
    )
    assert again == receipt and len(ledger) == 1  # the id made the retry idempotent
    [payload] = trained(ledger)
    assert payload["params"] == {} and "code_version" not in payload
