"""The VXP wire protocol of the national document axis, sans-I/O (``reference/vxp-protocol.md``).

* :mod:`hub.vxp.wire` — what the official Java SDK puts on the wire: timestamps, the lossy
  ``hash-file``, Java ``HashMap`` member order, Gson escaping, the signed header list.
* :mod:`hub.vxp.verify` — server-side verification of a request (§8) → :class:`VerifiedRequest`.
* :mod:`hub.vxp.replies` — the JSON replies (§5): writing them (façade) and reading them (client).

No module here opens a socket or reads a clock; the façade (``adapters/http``) and the client
(``adapters/vxp_client.py``) bring the I/O.
"""

from hub.vxp.replies import Knobstick, parse_reply
from hub.vxp.verify import (
    AUTH_FAILED,
    VerifiedRequest,
    VerifyPolicy,
    check_hash_file,
    verify_request,
)
from hub.vxp.wire import (
    DEFAULT_ZONE,
    LIST_OPERATIONS,
    Operation,
    format_timestamp,
    lossy_hash_file,
    parse_timestamp,
    sign_headers,
)

__all__ = [
    "AUTH_FAILED",
    "DEFAULT_ZONE",
    "LIST_OPERATIONS",
    "Knobstick",
    "Operation",
    "VerifiedRequest",
    "VerifyPolicy",
    "check_hash_file",
    "format_timestamp",
    "lossy_hash_file",
    "parse_reply",
    "parse_timestamp",
    "sign_headers",
    "verify_request",
]
