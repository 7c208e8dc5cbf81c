"""Agencies: identifier codes (QCVN 102:2016, QĐ 20/2020) and the registry the hub routes by.

``codes`` parses and classifies codes without ever raising; ``registry`` holds the immutable
:class:`Registry` (hierarchy as data, validity periods, successors after the 2025 reform);
``loading`` reads the national registry's record shapes and the shipped sample.
"""

from hub.agency.codes import AgencyCode, CodeForm, lookup_key, parse_code
from hub.agency.loading import load_registry, load_sample_registry, registry_from_bytes
from hub.agency.registry import Agency, Registry, Resolution

__all__ = [
    "Agency",
    "AgencyCode",
    "CodeForm",
    "Registry",
    "Resolution",
    "load_registry",
    "load_sample_registry",
    "lookup_key",
    "parse_code",
    "registry_from_bytes",
]
