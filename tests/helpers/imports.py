"""What a fresh interpreter imports: for tests that keep start-up cheap (lazy imports of heavy packages)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT


def modules_after(code: str) -> list[str]:
    """The modules loaded in a fresh interpreter after `code` (a fresh one: this process has imported everything)."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded
