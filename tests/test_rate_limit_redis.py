"""Production shape: with several web workers, rate limits are kept in Redis and shared.

Redis runs on this machine (127.0.0.1:6379); like PostgreSQL, it must be up for the suite
(`.ci/run` starts it when it is not)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis

from survey import create_app

REDIS_URL = os.environ.get("MAT_REVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it (see .ci/run)")
    return client


def test_invalid_link_limit_is_shared_by_workers_through_redis(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    prefix = f"mat-review-test-{uuid.uuid4().hex}"
    config = {
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "redis-test-secret-0123456789abcdef0123456789",
        "RATELIMIT_STORAGE_URL": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    worker_one, worker_two = create_app(config), create_app(dict(config))
    try:
        codes = [worker_one.test_client().get(f"/s/bad-{i}").status_code for i in range(6)]
        codes += [worker_two.test_client().get(f"/s/bad-{i}").status_code for i in range(6)]
        # Ten failed look-ups a minute per address, counted across both workers.
        assert codes == [404] * 10 + [429] * 2
        assert redis_client.keys(f"*{prefix}*"), "the counts were not kept in Redis"
    finally:
        for key in redis_client.scan_iter(f"*{prefix}*"):
            redis_client.delete(key)
