"""The git revision a benchmark record carries, in a checkout and in a `git archive` snapshot (no .git)."""

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from benchmarks.common import REPO_ROOT, REVISION_FILE, archived_revision, git_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.check_output(["git", *args], cwd=cwd, text=True).strip()


def _repo_with_revision_file(path: Path) -> str:
    """A one-commit repository holding this project's REVISION file and .gitattributes; returns its HEAD."""
    (path / REVISION_FILE).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / REVISION_FILE, path / REVISION_FILE)
    shutil.copy(REPO_ROOT / ".gitattributes", path / ".gitattributes")
    _git(path, "init", "-q")
    _git(path, "add", ".")
    _git(path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "one")
    return _git(path, "rev-parse", "HEAD")


def test_checkout_reports_head_and_dirty(tmp_path: Path) -> None:
    head = _repo_with_revision_file(tmp_path)
    assert archived_revision(tmp_path / REVISION_FILE) == ""  # a checkout keeps the placeholder
    assert git_revision(tmp_path) == head
    (tmp_path / ".gitattributes").write_text("changed\n")
    assert git_revision(tmp_path) == head + "+dirty"


def test_archive_snapshot_reports_the_commit_it_was_made_from(tmp_path: Path) -> None:
    repo, snapshot = tmp_path / "repo", tmp_path / "snapshot"
    repo.mkdir()
    head = _repo_with_revision_file(repo)
    subprocess.run(["git", "archive", "-o", str(tmp_path / "snap.tar"), "HEAD"], cwd=repo, check=True)
    with tarfile.open(tmp_path / "snap.tar") as tar:
        tar.extractall(snapshot, filter="data")
    assert not (snapshot / ".git").exists()
    assert git_revision(snapshot) == f"{head} (git archive)"


def test_plain_copy_without_git_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above tmp_path counts
    (tmp_path / REVISION_FILE).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / REVISION_FILE, tmp_path / REVISION_FILE)
    assert git_revision(tmp_path) == "unknown"
