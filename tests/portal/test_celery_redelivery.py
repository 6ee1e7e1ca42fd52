"""A dead worker's tasks run again within a bound, on Redis and on RabbitMQ; a live worker's long
task is never handed to a second one (issue 19.3).

Real workers (prefork) on the real brokers, each test on a queue of its own. The visibility
timeout is shortened to 6 s here (90 s by default) so the test is quick; the bound is the same
arithmetic: timeout + one restore sweep + a worker's start.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from kombu import Connection, Exchange, Queue

from tests.portal.celery_probe import hold

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY = 6
RESTORE_EVERY = 1
REDIS = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
RABBITMQ = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _reachable(url: str) -> bool:
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception:
        return False
    return True


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request):
    url = REDIS if request.param == "redis" else RABBITMQ
    if not url.startswith(("redis", "amqp")) or not _reachable(url):
        pytest.skip(f"no {request.param} broker at {url}")
    return url


@pytest.fixture
def queue(broker):
    name = f"test-redelivery-{uuid.uuid4().hex[:10]}"
    yield name
    with Connection(broker) as conn:
        bound = Queue(name, Exchange(name, type="direct"), routing_key=name)(conn.default_channel)
        bound.declare()
        bound.purge()
        bound.delete()


class Workers:
    """Real `celery worker` processes for one test, each in its own process group."""

    def __init__(self, broker: str, queue: str):
        self.broker, self.queue, self.procs = broker, queue, []

    def start(self, concurrency: int = 1) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            "CELERY_BROKER_URL": self.broker,
            "CELERY_RESULT_BACKEND": "",
            "TEST_CELERY_QUEUE": self.queue,
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
            "CELERY_UNACKED_RESTORE_SECONDS": str(RESTORE_EVERY),
        }
        command = [
            sys.executable, "-m", "celery", "-A", "portal", "worker", "-I",
            "tests.portal.celery_probe", "-Q", self.queue, "-P", "prefork", "-c",
            str(concurrency), "--without-gossip", "--without-mingle", "-l", "warning",
        ]  # fmt: skip
        proc = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """The worker dies with everything it started, as when its container is killed."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers(broker, queue):
    pool = Workers(broker, queue)
    yield pool
    pool.stop_all()


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _wait_for(what: str, done, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


def _send(broker: str, queue: str, marker: Path, seconds: float) -> None:
    from portal.celery import app

    with app.connection_for_write(broker) as conn:
        hold.apply_async(args=[str(marker), seconds], queue=queue, connection=conn)


def test_a_task_of_a_killed_worker_runs_again_within_the_bound(broker, queue, workers, tmp_path):
    first = workers.start()
    _send(broker, queue, tmp_path, 120)
    _wait_for("the task starts", lambda: len(_lines(tmp_path / "starts")) == 1, 60)

    workers.kill(first)
    workers.start()

    # visibility timeout + one restore sweep + a worker's start (Redis); at once (RabbitMQ)
    _wait_for("the task starts again", lambda: len(_lines(tmp_path / "starts")) == 2, 45)
    (tmp_path / "release").touch()
    _wait_for("the task finishes", lambda: len(_lines(tmp_path / "finishes")) == 1, 30)
    assert _lines(tmp_path / "finishes") == _lines(tmp_path / "starts")[1:]


def test_a_task_whose_pool_process_is_killed_runs_again_at_once(broker, queue, workers, tmp_path):
    worker = workers.start()
    _send(broker, queue, tmp_path, 120)
    _wait_for("the task starts", lambda: len(_lines(tmp_path / "starts")) == 1, 60)
    (pool_pid,) = _lines(tmp_path / "starts")

    os.kill(int(pool_pid), signal.SIGKILL)

    # rejected on worker loss and requeued: the same worker's new pool process takes it
    _wait_for("the task starts again", lambda: len(_lines(tmp_path / "starts")) == 2, 30)
    (tmp_path / "release").touch()
    _wait_for("the task finishes", lambda: len(_lines(tmp_path / "finishes")) == 1, 30)
    assert worker.poll() is None
    assert [int(p) for p in _lines(tmp_path / "starts")][1] in {
        child.pid for child in psutil.Process(worker.pid).children()
    }


def test_a_task_longer_than_the_visibility_timeout_is_not_handed_out_twice(
    broker, queue, workers, tmp_path
):
    workers.start(concurrency=2)  # a free pool process would take a wrongly restored copy
    workers.start()  # and so would a second worker

    _send(broker, queue, tmp_path, 3 * VISIBILITY + 2 * RESTORE_EVERY)

    _wait_for("the task finishes", lambda: len(_lines(tmp_path / "finishes")) == 1, 90)
    assert len(_lines(tmp_path / "starts")) == 1
