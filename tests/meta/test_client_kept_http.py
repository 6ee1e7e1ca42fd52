"""A thread keeps its HTTP client from one GraphClient to the next: a task builds a GraphClient
each run (the fleet sync, one a client), and a new httpx client each time cost more than the
sync's own work and a new connection (a TLS handshake with Meta) for every task."""

from __future__ import annotations

import threading

from portal.meta.client import GraphClient
from tests.meta.conftest import TOKEN, WABA


def _connections(graph: GraphClient) -> list:
    return list(graph._http._transport._pool.connections)


def test_graph_clients_of_one_thread_share_the_connection_and_closing_one_keeps_it(sim):
    first = GraphClient(token=TOKEN, base_url=sim.url)
    assert first.get_waba(WABA).id == WABA
    first.close()  # as a task's `with` block does
    second = GraphClient(token=TOKEN, base_url=sim.url)
    assert second.get_waba(WABA).id == WABA

    assert second._http is first._http
    assert not second._http.is_closed
    assert len(_connections(second)) == 1  # the first task's connection, used again
    assert sim.calls == 2


def test_another_token_or_url_gets_its_own_client_and_the_old_one_is_closed(sim):
    first = GraphClient(token=TOKEN, base_url=sim.url)
    assert first.get_waba(WABA).id == WABA
    other = GraphClient(token="another-token", base_url=sim.url)

    assert other._http is not first._http
    assert first._http.is_closed
    assert other._http.headers["Authorization"] == "Bearer another-token"
    again = GraphClient(token=TOKEN, base_url=sim.url)  # only one is kept: built again
    assert again._http is not other._http
    assert again._http.headers["Authorization"] == f"Bearer {TOKEN}"


def test_each_thread_keeps_its_own_client(sim):
    here = GraphClient(token=TOKEN, base_url=sim.url)
    there: list[GraphClient] = []
    thread = threading.Thread(
        target=lambda: there.append(GraphClient(token=TOKEN, base_url=sim.url))
    )
    thread.start()
    thread.join()

    assert there[0]._http is not here._http
    assert there[0].get_waba(WABA).id == WABA  # usable from this thread too (the sync's fetch)


def test_a_client_given_its_own_transport_is_closed_with_it(sim):
    import httpx

    graph = GraphClient(token=TOKEN, base_url=sim.url, transport=httpx.HTTPTransport())
    kept = GraphClient(token=TOKEN, base_url=sim.url)
    graph.close()

    assert graph._http.is_closed
    assert graph._http is not kept._http
    assert not kept._http.is_closed
