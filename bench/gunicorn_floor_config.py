"""gunicorn settings for bench/libs_floor_app.py: preloaded and frozen before the fork, like the
app's own survey/gunicorn_config.py."""

from __future__ import annotations

import gc
from typing import Any

preload_app = True


def pre_fork(server: Any, worker: Any) -> None:
    gc.collect()
    gc.freeze()
