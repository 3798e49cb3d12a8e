"""moto_server, with each DynamoDB request and each SQS request served alone.

moto serves requests on threads and does not lock an item across a
conditional write's check and write: two conditional PutItems on one
empty key can both succeed, which real DynamoDB never allows. Its SQS
queues have the same kind of gap: a delete rebuilds the queue's message
list from a copy, so of two DeleteMessageBatch calls at once the later
can put back what the earlier deleted (in flight, and never deletable
again: its receipt handles count as deleted), and a send beside them can
vanish; two receives can take one message. This runs moto's own WSGI
application under werkzeug's threaded server and lets one DynamoDB
request, and one SQS request, at a time through, the response included.
An SQS long poll lets the others through while it waits.

It also mends two gaps of moto's Lambda that dlq's discovery meets (see
patch_lambda). Usage: python3 moto_atomic.py HOST PORT
"""
import os
import signal
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_dynamodb = threading.Lock()
_sqs = threading.Lock()


def atomic(app):
    def wrapped(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            lock = _dynamodb
        elif target.startswith("AmazonSQS."):
            lock = _sqs
        else:
            return app(environ, start_response)
        with lock:
            # The response is built inside the lock: moto may defer work
            # to its iterable.
            return [b"".join(app(environ, start_response))]
    return wrapped


def patch_sqs_long_poll():
    """Let other SQS requests through while a receive waits for messages
    (it holds _sqs otherwise): a send it waits for could not come."""
    from moto.sqs import models

    wait = models.Queue.wait_for_messages

    def wait_for_messages(self, timeout):
        _sqs.release()
        try:
            wait(self, timeout)
        finally:
            _sqs.acquire()

    models.Queue.wait_for_messages = wait_for_messages


def patch_lambda():
    """Mend moto 5.2.1's Lambda where discovery reads it.

    moto drops a function's DeadLetterConfig (CreateFunction and
    UpdateFunctionConfiguration accept it, GetFunctionConfiguration and
    ListFunctions never return it): keep it, so that published versions
    carry it as on AWS. And ListFunctionEventInvokeConfigs answers
    LastModified as an ISO string where AWS sends epoch seconds, which the
    Go SDK refuses to read.
    """
    from datetime import datetime
    from moto.awslambda import models

    fn = models.LambdaFunction
    init, update, configuration = fn.__init__, fn.update_configuration, fn.get_configuration

    def __init__(self, account_id, spec, region, version=1):
        init(self, account_id, spec, region, version)
        self.dead_letter_config = spec.get("DeadLetterConfig")

    def update_configuration(self, config_updates):
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"]
        return update(self, config_updates)

    def get_configuration(self, on_create=False):
        config = configuration(self, on_create)
        dlc = getattr(self, "dead_letter_config", None)
        if dlc and dlc.get("TargetArn"):
            config["DeadLetterConfig"] = {"TargetArn": dlc["TargetArn"]}
        return config

    fn.__init__, fn.update_configuration, fn.get_configuration = __init__, update_configuration, get_configuration

    response = models.EventInvokeConfig.response

    def epoch_response(self):
        r = response(self)
        if isinstance(r.get("LastModified"), str):
            r["LastModified"] = datetime.fromisoformat(r["LastModified"].replace("Z", "+00:00")).timestamp()
        return r

    models.EventInvokeConfig.response = epoch_response


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds queue URLs from it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    patch_lambda()
    patch_sqs_long_poll()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, atomic(app), threaded=True)


if __name__ == "__main__":
    main()
