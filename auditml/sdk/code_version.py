"""The version of the code that trained a model or derived a dataset: the git commit.

Example::

    from auditml.sdk import git_revision
    print(git_revision())  # "3f2c...e1" or "3f2c...e1-dirty", None outside a repository
"""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["git_revision"]

#: Seconds each git command may take before the revision is given up as unknown.
GIT_TIMEOUT = 10.0


def git_revision(directory: str | os.PathLike[str] | None = None) -> str | None:
    """Return the git commit checked out in `directory` (default: the working directory).

    The full commit hash, with ``-dirty`` appended when ``git status --porcelain`` lists
    anything (modified, staged or untracked files: code that is not in the commit may
    have run). Returns None when it cannot be established: git is not installed, the
    directory is not in a repository (or has no commit yet), or git takes longer than
    10 seconds. A revision whose cleanliness could not be checked is not returned,
    because a bare commit hash would claim the run used exactly that commit. Never raises.

    Example::

        derive_dataset(ledger, "loans-clean", ["loans-2025"], "dedupe", "data/clean/",
                       code_version=git_revision())
    """
    git = shutil.which("git")
    if git is None:
        return None
    where = os.fspath(directory) if directory is not None else os.getcwd()
    commit = _run_git(git, where, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return None
    status = _run_git(git, where, "status", "--porcelain")
    if status is None:
        return None
    return f"{commit}-dirty" if status else commit


def _run_git(git: str, directory: str, *args: str) -> str | None:
    """Run one read-only git command; its stripped output, or None if it failed."""
    # Fixed arguments, no shell, a resolved executable: nothing here comes from input.
    try:
        done = subprocess.run(  # noqa: S603
            [git, *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            # A terminal prompt (credentials, pager) must never block a training job.
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
