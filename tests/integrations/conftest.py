import pytest

from tests.integrations.receiver import start_receiver


@pytest.fixture
def receiver():
    r = start_receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def second_receiver():
    r = start_receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()
