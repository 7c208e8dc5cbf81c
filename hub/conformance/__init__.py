"""The conformance bench for QLVB vendors' connectors (``lienthong conformance``).

:mod:`hub.conformance.script` is the sans-I/O script (steps, observations, outcomes),
:mod:`hub.conformance.checks` the protocol checks over recorded requests,
:mod:`hub.conformance.material` the packages the bench sends, and
:mod:`hub.conformance.report` the JSON and HTML reports. The runner that serves a hub and
drives the script is :mod:`hub.entrypoints.conformance`.
"""
