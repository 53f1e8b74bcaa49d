"""A gunicorn config file for the worker-kill drill: a worker that has just answered a submit
(POST /survey) kills itself with SIGKILL, the moment the answer has been written to the socket,
before gunicorn's own clean-up or anything else in the process runs."""

from __future__ import annotations

import os
import signal
from typing import Any


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    if req.method == "POST" and req.path == "/survey":
        os.kill(os.getpid(), signal.SIGKILL)
