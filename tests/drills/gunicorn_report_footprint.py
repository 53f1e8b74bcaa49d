"""A gunicorn config file for the worker-footprint test: after each request, the worker that
served it writes its process id and the names of the modules it has imported to the file named
by MAT_REVIEW_TEST_FOOTPRINT (a debug-free look into the worker, from the worker itself)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    report = {"pid": os.getpid(), "path": req.path, "modules": sorted(sys.modules)}
    target = Path(os.environ["MAT_REVIEW_TEST_FOOTPRINT"])
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(report))
    temporary.replace(target)
