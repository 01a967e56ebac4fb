"""The test suite's own rules: in CI a skip is a failure (conftest.SkipsFailInCI), and
tests that need a user without root's powers get one (conftest.Unprivileged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SkipsFailInCI, Unprivileged

SKIPPING = """
import pytest

def test_needs_a_tool():
    pytest.skip("no frobnicator on this machine")

@pytest.mark.skipif(True, reason="no browser here")
def test_marked_to_skip():
    pass

def test_runs():
    pass

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False
"""


def run_skipping(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makepyfile(test_tools=SKIPPING)
    return pytester.runpytest("-p", "no:cacheprovider", "-ra", plugins=[SkipsFailInCI()])


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_in_ci_a_test_that_would_skip_fails(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch,
                                            value: str) -> None:
    monkeypatch.setenv("CI", value)
    result = run_skipping(pytester)
    # A skip marker acts while the test is set up: failing there is reported as an error.
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "*skipped in CI, where every test must run: no frobnicator on this machine*",
        "*skipped in CI, where every test must run: no browser here*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_elsewhere_a_skip_is_a_skip(pytester: pytest.Pytester,
                                    monkeypatch: pytest.MonkeyPatch,
                                    value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    result = run_skipping(pytester)
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_in_ci_a_module_skipped_whole_fails(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(test_module="import pytest\n"
                        "pytest.skip('no ffprobe', allow_module_level=True)\n"
                        "def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[SkipsFailInCI()])
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped in CI, where every test must run: no ffprobe*"])


def test_the_rule_is_on_in_this_test_run(pytestconfig: pytest.Config) -> None:
    assert isinstance(pytestconfig.pluginmanager.get_plugin("skips-fail-in-ci"),
                      SkipsFailInCI)


@pytest.mark.parametrize("ci", ["true", ""])
def test_the_suites_conftest_fails_a_skip_in_ci(tmp_path: Path, ci: str) -> None:
    """The suite's own conftest, in a pytest process of its own beside a test that
    skips, as CI runs it: with CI=true the run fails."""
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_tool():\n    pytest.skip('no chromium')\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir",
         str(tmp_path), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "CI": ci}, timeout=120)
    if ci:
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
        assert "skipped in CI, where every test must run: no chromium" in result.stdout
    else:
        assert result.returncode == pytest.ExitCode.OK, result.stdout
        assert "1 skipped" in result.stdout


def test_unprivileged_commands_have_no_root_powers(unprivileged: Unprivileged) -> None:
    """The user runs as itself, owns its folder, and can't write where it may not."""
    result = unprivileged.run(["id", "-u"])
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) != 0
    assert int(result.stdout) == unprivileged.folder.stat().st_uid
    locked = unprivileged.folder / "locked"
    locked.mkdir()
    unprivileged.give(locked)
    locked.chmod(0o555)
    result = unprivileged.run(["touch", str(locked / "x")])
    assert result.returncode != 0 and "Permission denied" in result.stderr
    assert not (locked / "x").exists()
    result = unprivileged.run(["sh", "-c", 'echo "$HOME $USER"'])
    assert result.stdout.split() == [str(unprivileged.home), unprivileged.name]
