"""A gunicorn config file for the worker-footprint test: the app's own production settings
(survey.gunicorn_config: the app preloaded in the master, workers forked from it), and after
each request the worker that served it writes its process id and the names of the modules it
has imported to the file named by MAT_REVIEW_TEST_FOOTPRINT (a debug-free look into the worker,
from the worker itself). Modules the master imported count: the worker holds them too."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

from survey import gunicorn_config
from survey.gunicorn_config import post_fork, preload_app, when_ready

__all__ = ["post_fork", "post_request", "pre_fork", "preload_app", "when_ready"]
# Whether the master had loaded the app's views when it forked this worker, and whether every
# ORM mapper was configured there (set in the master).
_app_loaded_before_fork = False
_mappers_configured_before_fork = False


def pre_fork(server: Any, worker: Any) -> None:
    global _app_loaded_before_fork, _mappers_configured_before_fork
    _app_loaded_before_fork = "survey.respond.views" in sys.modules
    gunicorn_config.pre_fork(server, worker)
    from survey.models import Base

    _mappers_configured_before_fork = all(m.configured for m in Base.registry.mappers)


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    report = {
        "pid": os.getpid(),
        "path": req.path,
        "modules": sorted(sys.modules),
        "app_loaded_before_fork": _app_loaded_before_fork,
        "mappers_configured_before_fork": _mappers_configured_before_fork,
        "frozen_objects": gc.get_freeze_count(),  # objects the master froze before forking
    }
    target = Path(os.environ["MAT_REVIEW_TEST_FOOTPRINT"])
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(report))
    temporary.replace(target)
