"""Implementations of :class:`hub.messaging.Broker`.

* :mod:`adapters.broker.rabbitmq` — RabbitMQ through aio-pika (quorum queues, publisher
  confirms, per-delay retry queues, dead-letter queues);
* :mod:`adapters.broker.embedded` — a durable queue in the hub's own database (SQLite or
  PostgreSQL), for installations without RabbitMQ;
* :mod:`adapters.broker.memory` — an in-memory fake for tests, with ``join(queue)``.

All three turn a handler's outcome into ack / retry / dead-letter through
:func:`hub.messaging.decide` and nowhere else, so they behave the same. Each module is imported
on its own (``from adapters.broker.rabbitmq import RabbitBroker``) so that choosing one backend
never imports the libraries of another.
"""

from __future__ import annotations

from hub.errors import InternalError

#: Header carrying the attempt number (counts from 1) of a message.
ATTEMPT_HEADER = "x-lienthong-attempt"
#: Header carrying why a message was dead-lettered (``decide()``'s reason).
REASON_HEADER = "x-lienthong-reason"


class ConsumerLost(InternalError):
    """A message handed out ``max_attempts`` times and never settled: its consumer died with it
    each time (a poison message). Never raised to callers; :func:`hub.messaging.decide` turns it
    into a dead letter whose reason starts with ``ConsumerLost:``."""

    code = "broker.consumer_lost"
