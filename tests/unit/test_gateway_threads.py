"""The local gateway answers requests on many threads at once; each view must see its own
request, as each Lambda container answers one at a time."""

import threading

from chalice import Chalice

from devserver.gateway import one_request_per_thread


def test_each_thread_sees_the_request_it_is_answering():
    app = Chalice(app_name="threads")
    one_request_per_thread(app)
    started, seen = threading.Barrier(2), {}

    def answer(name):
        app.current_request = name
        started.wait(timeout=5)  # both threads have set theirs before either reads it
        seen[name] = app.current_request

    threads = [threading.Thread(target=answer, args=(n,)) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert seen == {"first": "first", "second": "second"}
    assert isinstance(app, Chalice)
