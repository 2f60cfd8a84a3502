"""The loopback webhook receiver stamps each arrival (benchmarks split a breach's time with it) and can keep
connections alive, as production receivers do."""

from __future__ import annotations

import socket
import time

import httpx

from tools.receiver import WebhookReceiver

REQUEST = (
    b"POST /hooks/slm HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\nwebhook-id: %s\r\n\r\n{}"
)


def answers_on_one_connection(receiver: WebhookReceiver, count: int) -> int:
    """How many of `count` requests sent one after another on one TCP connection were answered."""
    answered = 0
    with socket.create_connection((receiver.host, receiver.port), timeout=5) as sock:
        for n in range(count):
            try:
                sock.sendall(REQUEST % str(n).encode())
                reply = sock.recv(4096)
            except OSError:
                break
            if not reply.startswith(b"HTTP/1."):
                break
            answered += 1
    return answered


def test_each_webhook_carries_the_instant_it_was_read_in_full() -> None:
    """Stamped when read, before the answer (sent `delay_seconds` later), on the wall and the monotonic clock."""
    receiver = WebhookReceiver(delay_seconds=0.2).start()
    try:
        stamps = []
        for n in range(3):
            before, before_perf = time.time(), time.perf_counter()
            response = httpx.post(receiver.url, json={"n": n}, timeout=5)
            after, after_perf = time.time(), time.perf_counter()
            assert response.status_code == 204
            received = receiver.received[-1]
            stamps.append(received.arrived_at)
            assert before <= received.arrived_at <= after - 0.2
            assert before_perf <= received.arrived_perf <= after_perf - 0.2
        assert stamps == sorted(stamps)
    finally:
        receiver.stop()


def test_a_keep_alive_receiver_receives_nothing_after_stop() -> None:
    """stop() closes the connections kept open: a request sent on one afterwards is not received."""
    receiver = WebhookReceiver(keep_alive=True).start()
    with socket.create_connection((receiver.host, receiver.port), timeout=5) as sock:
        sock.sendall(REQUEST % b"0")
        assert sock.recv(4096).startswith(b"HTTP/1.1 204")
        receiver.stop()
        try:
            sock.sendall(REQUEST % b"1")
            reply = sock.recv(4096)
        except OSError:
            reply = b""
        time.sleep(0.2)  # a handler thread still reading would have recorded it by now
    assert reply == b""
    assert [r.headers["webhook-id"] for r in receiver.received] == ["0"]


def test_a_keep_alive_receiver_answers_several_requests_on_one_connection() -> None:
    keeping = WebhookReceiver(keep_alive=True).start()
    closing = WebhookReceiver().start()
    try:
        assert answers_on_one_connection(keeping, 3) == 3
        assert [r.headers["webhook-id"] for r in keeping.received] == ["0", "1", "2"]
        assert answers_on_one_connection(closing, 3) == 1  # HTTP/1.0: closed after each answer
    finally:
        keeping.stop()
        closing.stop()
