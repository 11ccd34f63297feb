"""Scraping a service of several worker processes so that each worker answers some scrapes.

Not a test module (no ``test_`` prefix): test_multiprocess_uvicorn and test_multiprocess_gunicorn use it
against the apps in multiprocess_app.py and multiprocess_wsgi_app.py, whose ``/hold`` sends its first line
at once and then keeps its worker busy for a second.
"""

from __future__ import annotations

import threading

import httpx

HOLD_STARTED_TIMEOUT = 10.0  # seconds a worker has to start answering /hold


def _hold(client: httpx.Client, url: str, started: threading.Event) -> None:
    """GET ``url``/hold; ``started`` is set once its first line arrived (the worker is busy from then)."""
    with client.stream("GET", f"{url}/hold") as response:
        for _ in response.iter_raw():
            started.set()
    started.set()  # a worker that answered at all is no longer busy: do not leave the scrape waiting


def scrape_each_worker(url: str, *, scrapes: int = 10, attempts: int = 40) -> dict[str, list[str]]:
    """Scrape ``url``/metrics until at least ``scrapes`` bodies came from two workers; bodies by worker pid.

    Each request opens its own connection. The kernel need not spread connections over the workers (under
    load one may take them all), so while only one worker has answered, each scrape is sent while a
    ``/hold`` request keeps a worker busy: the other one must answer it.
    """
    served: dict[str, list[str]] = {}
    with httpx.Client(timeout=10, headers={"Connection": "close"}) as client:
        for attempt in range(attempts):
            holder = None
            if attempt and len(served) < 2:
                started = threading.Event()
                holder = threading.Thread(target=_hold, args=(client, url, started), name="hold")
                holder.start()
                assert started.wait(HOLD_STARTED_TIMEOUT), "no worker started answering /hold"
            try:
                response = client.get(f"{url}/metrics")
            finally:
                if holder is not None:
                    holder.join(15)
            assert response.status_code == 200, response.text
            served.setdefault(response.headers["x-worker-pid"], []).append(response.text)
            if len(served) == 2 and sum(map(len, served.values())) >= scrapes:
                break
    assert len(served) == 2, f"one worker served every scrape: {list(served)}"
    return served
