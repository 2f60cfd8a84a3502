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
    receiver = WebhookReceiver().start()
    try:
        stamps = []
        for n in range(3):
            before = time.time()
            response = httpx.post(receiver.url, json={"n": n}, timeout=5)
            after = time.time()
            assert response.status_code == 204
            stamps.append((before, receiver.received[-1].arrived_at, after))
        for before, arrived_at, after in stamps:
            assert before <= arrived_at <= after
        assert [arrived for _, arrived, _ in stamps] == sorted(arrived for _, arrived, _ in stamps)
    finally:
        receiver.stop()


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
