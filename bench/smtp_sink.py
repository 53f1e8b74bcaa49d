"""A local SMTP server for the mail benchmark: aiosmtpd on loopback that accepts and counts
every message and keeps nothing. Run as its own process, so it does not share the sender's GIL.

    python bench/smtp_sink.py PORT

Prints "ready" once listening; then prints the number of messages received for every line read
on stdin, and stops at end of input.
"""

from __future__ import annotations

import sys
from typing import Any

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def main() -> None:
    port = int(sys.argv[1])
    handler = Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        for _ in sys.stdin:
            print(handler.count, flush=True)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
