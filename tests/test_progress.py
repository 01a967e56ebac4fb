"""Progress on long work: bars on a terminal (stderr), never in piped output."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))


def run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal and stdout on a pipe, as `voiceguide build |
    tee log` would in a terminal: (exit code, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    proc = subprocess.Popen([VOICEGUIDE, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.stdout.close()
    proc.wait()
    os.close(master)
    return proc.returncode, out, shown.decode(errors="replace")


@pytest.mark.parametrize("command", [["build"], ["share"]])
def test_progress_goes_to_the_terminal_never_into_piped_output(
        scripts: Path, tmp_path: Path, command: list[str]) -> None:
    (scripts / "clinic.yaml").write_text("name: Clinic\nengine: tone\n")
    code, out, shown = run_on_a_terminal(
        [*command, "--scripts", str(scripts), "--out", str(tmp_path / "out"),
         "--no-cache"], tmp_path)
    assert code == 0, shown
    assert "Speaking" in shown and "Encoding" in shown
    assert "Speaking" not in out and "\x1b" not in out
    assert out.startswith("Built ")


def test_quiet_and_pipes_show_no_progress(scripts: Path, tmp_path: Path) -> None:
    code, out, shown = run_on_a_terminal(
        ["build", "--engine", "tone", "--scripts", str(scripts), "--out",
         str(tmp_path / "out"), "--no-cache", "--quiet"], tmp_path)
    assert code == 0 and "Speaking" not in shown and out.startswith("Built ")
    piped = subprocess.run([VOICEGUIDE, "build", "--engine", "tone", "--scripts",
                            str(scripts), "--out", str(tmp_path / "out2"), "--no-cache"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""


def test_batch_counts_clients(scripts: Path, tmp_path: Path) -> None:
    clients = tmp_path / "clients"
    clients.mkdir()
    for name in ("ann", "bob"):
        (clients / f"{name}.yaml").write_text(
            f"id: {name}\nname: {name.title()}\ntechniques: [neck]\n")
    code, out, shown = run_on_a_terminal(
        ["batch", str(clients), "--engine", "tone", "--scripts", str(scripts), "--out",
         str(tmp_path / "out")], tmp_path)
    assert code == 0, shown
    assert "Clients" in shown and "2/2" in shown
    assert out.splitlines()[-1] == "2 built, 0 unchanged, 0 failed"
