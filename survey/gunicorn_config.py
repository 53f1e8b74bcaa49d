"""gunicorn settings for the web tier:

    gunicorn -c python:survey.gunicorn_config -w 4 'survey:create_app()'

The app is loaded once, in the master (`preload_app`), and each worker is forked from it, so the
workers share the imported code and the app's objects copy-on-write instead of each importing
them again. Two things keep that sharing honest:

- Before each fork the master moves every object it holds into the garbage collector's
  permanent generation (`gc.freeze()`): a worker's collections then never walk (and so never
  write to, and copy) the pages the master's objects live on.
- After each fork the worker drops the database connections it inherited without closing them
  (`Engine.dispose(close=False)`): a connection belongs to the process that opened it, and the
  worker opens its own on first use. create_app opens none, so this is a guard for the future.
"""

from __future__ import annotations

import gc
from typing import Any

from sqlalchemy.orm import configure_mappers

import framework as fw
from survey.db import db

preload_app = True


def when_ready(server: Any) -> None:
    """Once, in the master, after the app is loaded and before the first worker is forked."""
    configure_mappers()
    for key in fw.builtin_keys():
        fw.load_builtin(key)  # cached for the process, so inherited by every worker


def pre_fork(server: Any, worker: Any) -> None:
    gc.collect()
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    app = server.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
