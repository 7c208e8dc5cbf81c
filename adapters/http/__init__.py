"""HTTP entry adapters: the VXP-compatible façade, the REST API ``/api/v1``, health and metrics.

Public API: :func:`create_app` (``adapters.http.app``), :class:`ApiSettings`,
:class:`SecurityEvent` and :data:`AuditHook` (``adapters.http.gate``).
"""

from adapters.http.app import create_app
from adapters.http.gate import ApiSettings, AuditHook, SecurityEvent

__all__ = ["ApiSettings", "AuditHook", "SecurityEvent", "create_app"]
