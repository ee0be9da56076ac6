"""Live status: bulletins, service status, subscriptions, the public status page, replicas.

This package shares its name with the module ``tests/live.py`` (the real-uvicorn helper), which a package
of the same name shadows. So that ``from tests.live import serve`` keeps working for every test, the
helper module is loaded here from its file and its public names are re-exported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_HELPER = Path(__file__).resolve().parent.parent / "live.py"

if _HELPER.exists():
    _spec = importlib.util.spec_from_file_location("tests._live_server", _HELPER)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _module
    _spec.loader.exec_module(_module)
    globals().update({name: value for name, value in vars(_module).items() if not name.startswith("_")})
