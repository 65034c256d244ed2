"""Run many ``python -m stjob_trainer`` processes quickly: import the trainer once, fork one process per case.

``python tests/hostile/trainer_batch.py CASES.json RESULTS.json``. Each case is ``{"id", "argv", "env",
"stdout", "stderr"}``. Each child is a real process: its own environment, stdout/stderr files and exit
status; it runs the ``stjob_trainer`` package's ``__main__`` exactly as ``python -m`` does (runpy), with
an uncaught exception printed as a traceback and exit 1, like the interpreter. Only the 10-20 s of
importing torch and sentence-transformers is shared, which is what makes 50 processes take seconds.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any


def _child(case: dict[str, Any]) -> int:
    out = os.open(case["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(case["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.environ.update(case["env"])
    sys.argv = ["stjob_trainer", *case["argv"]]
    try:
        runpy.run_module("stjob_trainer", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import stjob_trainer.run  # noqa: F401 - the slow part, once for all children

    results: dict[str, int] = {}
    for case in cases:
        pid = os.fork()
        if pid == 0:
            os._exit(_child(case))
        _, status = os.waitpid(pid, 0)
        results[case["id"]] = os.waitstatus_to_exitcode(status)
    Path(sys.argv[2]).write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main()
