#!/usr/bin/env python3
"""moto's server (moto_server's own arguments: -H HOST -p PORT) for Sluice's tests.

Two things a test child needs that moto_server does not do:
- SIGTERM and SIGINT are unblocked: a test runner may start children with them blocked, and
  then ChildProcess.stop's SIGTERM would do nothing until its SIGKILL fallback.
- It exits when the process that started it goes away, so a crashed or interrupted test run
  leaves no server (about 200 MB each) behind.
Run it with the venv's python (.tools/venv/bin/python3), which has moto installed.
"""
import os
import signal
import sys
import threading
import time

signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
signal.signal(signal.SIGTERM, signal.SIG_DFL)
parent = os.getppid()


def watch_parent():
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


threading.Thread(target=watch_parent, daemon=True).start()

from moto.server import main  # noqa: E402  (after the signal set-up, which must come first)


def warm_up():
    """Builds the backends the tests use before the server listens. moto builds each lazily on
    its first request; EC2's alone took 8 s on a loaded 2-core machine, past the AWS client's
    10 s timeout for the first test that used it. Tests wait for the port (up to 60 s) instead."""
    from moto.backends import get_backend
    for name in ("ec2", "iam", "sts", "sns", "sqs", "events", "securityhub", "ecs"):
        try:
            backends = get_backend(name)["123456789012"]
            for region in ("us-east-1", "global", "aws"):
                try:
                    backends[region]
                    break
                except KeyError:
                    continue
        except Exception as error:  # a warm-up only: the server works without it
            print(f"moto warm-up of {name} skipped: {error}", file=sys.stderr)


class ArrivalOrderLock:
    """A lock that admits its waiters in the order they came. threading.Lock promises no order:
    with the whole suite's tests calling one server, a request could wait behind any number of
    later ones, past the AWS client's 10 s timeout."""

    def __init__(self):
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self):
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._changed.wait()

    def __exit__(self, *exc):
        with self._changed:
            self._serving += 1
            self._changed.notify_all()


def serialize_requests():
    """One request at a time, in arrival order. moto's backends are plain dicts shared by
    werkzeug's request threads; with the suite's tests calling the shared server at once, EC2
    answered an occasional HTTP 500 (an internal error, not an AWS one). Each call takes
    milliseconds."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    lock = ArrivalOrderLock()
    dispatch = DomainDispatcherApplication.__call__

    def serialized(self, environ, start_response):
        with lock:
            return list(dispatch(self, environ, start_response))

    DomainDispatcherApplication.__call__ = serialized


def answer_long_polls_at_once():
    """SQS ReceiveMessage answers with what the queue holds now, whatever its WaitTimeSeconds.
    Behind the one-request-at-a-time lock a long poll can never see a new message (the send
    waits for the lock) and only holds every other test's call: four tests polling empty queues
    with WaitTimeSeconds=1 made a DescribeVpcs wait 8.7 s (median; 35 s at most) on a loaded
    machine. Tests poll again themselves, sleeping outside the server."""
    from moto.sqs.models import SQSBackend
    receive = SQSBackend.receive_message

    def at_once(self, queue_name, count, wait_seconds_timeout, *rest, **options):
        return receive(self, queue_name, count, 0, *rest, **options)

    SQSBackend.receive_message = at_once


warm_up()
serialize_requests()
answer_long_polls_at_once()
main(sys.argv[1:])
