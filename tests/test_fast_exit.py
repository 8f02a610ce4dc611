"""The console script's early exit (engine/commands/entry.py `main`): after a plain command line's answer is
written it leaves without finalising the interpreter, but only when that would do nothing but free memory. Each
test gives the interpreter something to do at exit and checks that it is still done."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DENY = ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
ALLOW = ["LSC", *DENY[1:]]


def run(prelude: str, argv: list[str], func: str = "main", tmp: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LAWFUL_BUNDLE", "LAWFUL_NO_CACHE")}
    if tmp is not None:
        env["LAWFUL_CACHE_DIR"] = str(tmp / "cache")
    code = (f"import sys\nsys.argv = ['can-share', *sys.argv[1:]]\n{prelude}\n"
            f"from engine.commands.entry import {func}\n{func}()\n")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def test_the_script_writes_the_same_answer_and_exit_code_as_can_share_main(tmp_path):
    for argv, code in ((DENY, 1), (ALLOW, 0), ([*DENY, "--format", "json"], 1)):
        fast, usual = run("", argv, tmp=tmp_path), run("", argv, "can_share_main", tmp=tmp_path)
        assert (fast.returncode, fast.stdout, fast.stderr) == (usual.returncode, usual.stdout, usual.stderr)
        assert fast.returncode == code and fast.stdout


def test_a_large_answer_through_a_pipe_is_written_in_full(tmp_path):
    # stdout is a pipe (block-buffered): everything must be flushed before leaving
    fast, usual = run("", [*DENY, "--verbose"], tmp=tmp_path), run("", [*DENY, "--verbose"], "can_share_main",
                                                                    tmp=tmp_path)
    assert fast.stdout == usual.stdout and len(fast.stdout) > 200


def test_atexit_callbacks_still_run(tmp_path):
    p = run("import atexit\natexit.register(lambda: print('ATEXIT RAN', flush=True))", DENY, tmp=tmp_path)
    assert p.returncode == 1 and p.stdout.rstrip().endswith("ATEXIT RAN")


def test_a_temporary_folder_is_still_removed(tmp_path):
    marker = tmp_path / "where"
    prelude = (f"import tempfile, pathlib\nt = tempfile.TemporaryDirectory()\n"
               f"pathlib.Path({str(marker)!r}).write_text(t.name)")
    p = run(prelude, ALLOW, tmp=tmp_path)
    assert p.returncode == 0
    assert not Path(marker.read_text()).exists()


def test_a_running_thread_is_still_waited_for(tmp_path):
    prelude = ("import threading, time\n"
               "threading.Thread(target=lambda: (time.sleep(0.3), print('THREAD DONE', flush=True))).start()")
    p = run(prelude, DENY, tmp=tmp_path)
    assert p.returncode == 1 and "THREAD DONE" in p.stdout


def test_a_profiler_still_writes_its_results(tmp_path):
    out = tmp_path / "prof.out"
    env = {k: v for k, v in os.environ.items() if k not in ("LAWFUL_BUNDLE", "LAWFUL_NO_CACHE")}
    env["LAWFUL_CACHE_DIR"] = str(tmp_path / "cache")
    script = tmp_path / "can_share_script.py"
    script.write_text("import sys\nfrom engine.commands.entry import main\nsys.exit(main())\n")
    p = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), str(script), *DENY], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr  # cProfile itself ends the SystemExit
    assert "would allow this flow" in p.stdout  # the answer was written
    assert out.exists() and out.stat().st_size > 0


def test_typers_path_exits_the_usual_way(tmp_path):
    p = run("import atexit", ["--help"], tmp=tmp_path)
    assert p.returncode == 0 and "can-share [OPTIONS]" in p.stdout
