"""moto_server, with each DynamoDB request served alone.

moto serves requests on threads and does not lock an item across a
conditional write's check and write: two conditional PutItems on one
empty key can both succeed, which real DynamoDB never allows. This runs
moto's own WSGI application under werkzeug's threaded server (SQS long
polls need threads) and lets one DynamoDB request at a time through, the
response included: every single-item write is then atomic, as on AWS.
Usage: python3 moto_atomic.py HOST PORT
"""
import os
import signal
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_dynamodb = threading.Lock()


def atomic_dynamodb(app):
    def wrapped(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return app(environ, start_response)
        with _dynamodb:
            # The response is built inside the lock: moto may defer work
            # to its iterable.
            return [b"".join(app(environ, start_response))]
    return wrapped


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds queue URLs from it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, atomic_dynamodb(app), threaded=True)


if __name__ == "__main__":
    main()
