"""The drift package stays torch-free: importing it (the daemon's monitor included) loads no torch."""

from __future__ import annotations

import subprocess
import sys


def test_drift_imports_no_torch() -> None:
    """`driftmon.drift` and its modules import neither torch nor, until used, scipy or sklearn."""
    code = (
        "import sys, driftmon.drift, driftmon.drift.monitor, driftmon.drift.statistics; "
        "heavy = {'torch', 'scipy', 'sklearn'} & set(sys.modules); assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
