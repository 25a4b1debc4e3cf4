"""Record that a model version was trained: `model.trained`.

`training_run` is a context manager: log parameters, metrics and the artifact inside
the block; the event is recorded when the block ends normally, and nothing is recorded
when it raises (the exception propagates unchanged). `record_training` records the
same event in one call, for training that happened elsewhere.

Example::

    with training_run(ledger, model="credit", version="3.2", datasets=["loans-2025"]) as run:
        run.log_params(max_depth=6); run.log_metrics({"auc": auc}); run.set_artifact("model.pkl")
    print(run.receipt.seq)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Unpack

from auditml.errors import ValidationError
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.code_version import git_revision

__all__ = ["TrainingRun", "record_training", "training_run"]


def record_training(
    ledger: Ledger,
    *,
    model: str,
    version: str,
    datasets: str | Iterable[str],
    artifact: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    code_version: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `model.trained` in one call and return its receipt.

    `artifact` is the model file or directory (hashed here) or its SHA-256. Parameter and
    metric values may be numpy scalars, arrays, enums, ...: they are converted to JSON
    without changing their value. `code_version` is recorded as given (nothing is
    detected here; `training_run` detects it). `options` are the envelope fields.

    Example::

        record_training(ledger, model="credit", version="3.2", datasets=["loans-2025"],
                        artifact="models/credit-3.2.onnx", metrics={"auc": 0.91})

    Raises ValidationError (nothing recorded) for a bad argument or an unreadable artifact.
    """
    where = "record_training"
    payload = _common.compact(
        {
            "model": _common.text(model, "model", where),
            "version": _common.text(version, "version", where),
            "datasets": _common.names(datasets, "datasets", where),
            "code_version": _common.optional_text(code_version, "code_version", where),
            "params": _common.json_object(params or {}, "params", where),
            "metrics": _common.json_object(metrics or {}, "metrics", where),
            "artifact_sha256": _common.digest_of(artifact, "artifact", where),
        }
    )
    return _common.record(ledger, "model.trained", payload, options)


class TrainingRun:
    """One training run in progress; made by `training_run`, used inside its ``with`` block.

    After a block that ended normally, `receipt` holds the receipt of `model.trained`.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        model: str,
        version: str,
        datasets: str | Iterable[str],
        code_version: str | None,
        options: EventOptions,
        code_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        where = "training_run"
        self._ledger = ledger
        self.model = _common.text(model, "model", where)
        self.version = _common.text(version, "version", where)
        self.datasets = _common.names(datasets, "datasets", where)
        self._given_code_version = _common.optional_text(code_version, "code_version", where)
        #: The code version recorded: as given, else the git commit found on entering.
        self.code_version = self._given_code_version
        #: The directory whose git commit is taken: as given, else `_default_code_dir()`.
        self.code_dir = _directory(code_dir, where) if code_dir is not None else None
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        #: SHA-256 of the model artifact, once `set_artifact` was called.
        self.artifact_sha256: str | None = None
        #: The receipt of `model.trained`, once the block ended normally.
        self.receipt: Receipt | None = None
        self._options = options

    def log_params(self, params: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Add hyperparameters (a mapping and/or keywords); a repeated name keeps the last.

        Raises ValidationError at once for a value that cannot be recorded as JSON.
        """
        self.params.update(_named_values({**(params or {}), **more}, "params"))

    def log_metrics(self, metrics: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Add evaluation metrics (a mapping and/or keywords); a repeated name keeps the last.

        Raises ValidationError at once for a value that cannot be recorded as JSON.
        """
        self.metrics.update(_named_values({**(metrics or {}), **more}, "metrics"))

    def set_artifact(self, path_or_sha256: str | os.PathLike[str]) -> str:
        """Hash the model artifact (file or directory), or take its SHA-256; return the digest.

        Raises ValidationError if the path cannot be read.
        """
        self.artifact_sha256 = _common.digest_of(path_or_sha256, "artifact", "set_artifact")
        return self.artifact_sha256

    def __enter__(self) -> TrainingRun:
        if self._given_code_version is None:
            # Taken on entry: the code that starts the run is the code that trains.
            if self.code_dir is None:
                self.code_dir = _default_code_dir()
            self.code_version = git_revision(self.code_dir)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            return  # a failed run trained nothing: record nothing, let the error through
        if self.artifact_sha256 is None:
            raise ValidationError(
                f"training_run {self.model}@{self.version}: the block ended without "
                "run.set_artifact(...); nothing was recorded. Call it with the saved model's "
                "path (or its SHA-256) before the block ends"
            )
        self.receipt = record_training(
            self._ledger,
            model=self.model,
            version=self.version,
            datasets=self.datasets,
            artifact=self.artifact_sha256,
            params=self.params,
            metrics=self.metrics,
            code_version=self.code_version,
            **self._options,
        )


def training_run(
    ledger: Ledger,
    *,
    model: str,
    version: str,
    datasets: str | Iterable[str],
    code_version: str | None = None,
    code_dir: str | os.PathLike[str] | None = None,
    **options: Unpack[EventOptions],
) -> TrainingRun:
    """Start a training run; use it as a context manager (see `TrainingRun`).

    `datasets` are the dataset ids it was trained on (stored as ``dataset:ID``).
    `model.trained` is recorded (durably) when the ``with`` block ends normally; when the
    block raises, nothing is recorded and the exception propagates unchanged. Without
    `code_version`, the git commit of `code_dir` is taken on entry (``-dirty`` when it
    has uncommitted changes; absent outside a repository, see `git_revision`). `code_dir`
    defaults to the directory of the script being run (``__main__``'s file), so
    ``python ~/src/credit/train.py`` records the commit of ``~/src/credit`` whatever the
    working directory; in a session without a script file (a notebook, ``python -c``)
    it is the working directory. `options` are the envelope fields (actor, occurred_at,
    id, system).

    Example::

        with training_run(ledger, model="credit", version="3.2", datasets="loans-2025") as run:
            run.log_params({"max_depth": 6}); run.set_artifact("model.pkl")
        print(run.receipt)

        # the training code lives elsewhere than the script that starts it:
        with training_run(ledger, model="credit", version="3.3", datasets="loans-2025",
                          code_dir="/srv/ml/credit-model") as run: ...

    Raises ValidationError for a bad argument (here; `code_dir` must be an existing
    directory), and on leaving the block if no
    artifact was set or the event is refused.
    """
    return TrainingRun(
        ledger,
        model=model,
        version=version,
        datasets=datasets,
        code_version=code_version,
        options=options,
        code_dir=code_dir,
    )


def _default_code_dir() -> str:
    """The directory whose git commit a training run records when not told otherwise.

    The directory of the ``__main__`` module's file (the script being run, or the
    module's file under ``python -m``) if there is one, else the working directory.
    """
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(path, str) and path:
        return os.path.dirname(os.path.abspath(path))
    return os.getcwd()


def _directory(value: object, where: str) -> str:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValidationError(
            f"{where}: code_dir must be a directory path, got {_common.show(value)}"
        )
    directory = os.fspath(value)
    if not isinstance(directory, str) or not os.path.isdir(directory):
        raise ValidationError(
            f"{where}: code_dir {directory!r} is not an existing directory; pass the folder "
            "of the training code's git checkout (or code_version= to record a version as given)"
        )
    return directory


def _named_values(values: Mapping[str, Any], field: str) -> dict[str, Any]:
    return _common.json_object(values, field, f"log_{field}")
