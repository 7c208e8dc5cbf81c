"""The hub's services: synchronous operations over a unit of work (see :mod:`hub.ports`).

* :mod:`hub.services.contracts` — what the entry points get (``HubService`` and its values);
* :mod:`hub.services.hub` — ``HubServices``, the implementation the entry points call;
* :mod:`hub.services.intake` — push; :mod:`hub.services.pull` — inbox, fetch, acks, views;
* :mod:`hub.services.systems` — connected systems and their secrets;
* :mod:`hub.services.outbox` — the outbox relay; :mod:`hub.services.dispatch` — the workers;
* :mod:`hub.services.base` — configuration value, dependencies and shared helpers.
"""
