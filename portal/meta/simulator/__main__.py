"""`python -m portal.meta.simulator --scenario PATH [...]`: run until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from portal.meta.simulator.server import SimulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.meta.simulator", description=__doc__)
    parser.add_argument("--scenario", required=True, help="JSON file, or a bundled name (demo)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--app-secret", default=None)
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument("--ready-file", default=None, help="write the base URL here when ready")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="meta-sim %(levelname)s %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SimulatorServer(
        args.scenario,
        latency_ms=args.latency_ms,
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        time_scale=args.time_scale,
        host=args.host,
        port=args.port,
        realtime=True,
    )
    server.start()
    try:
        if args.ready_file:
            Path(args.ready_file).write_text(server.url + "\n", encoding="utf-8")
        print(f"Meta simulator listening on {server.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("Meta simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
