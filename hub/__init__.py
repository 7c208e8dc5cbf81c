"""lienthong — the core of the edXML document interchange hub.

`hub` holds what does not talk to the outside world: the edXML model, reader and writer, the
agency registry model, routing rules, the delivery state machine, policies and services, and the
ports (Protocols) that `adapters` and `signing` implement. It imports no database, broker, HTTP,
SOAP or PDF library (a test enforces this); `hub.entrypoints` is the composition root and the
only part of `hub` allowed to wire adapters in.
"""

__version__ = "0.1.0"
