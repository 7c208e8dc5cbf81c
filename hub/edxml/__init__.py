"""The edXML toolkit: read, write, validate and relay QCVN 102:2016 packages. Pure code, no I/O.

Public API (re-exported here; import from ``hub.edxml``):

* :func:`read`, :func:`parse_package`, :func:`read_tree` — bytes / a parsed root → package values
  (:mod:`hub.edxml.reader`).
* the frozen values of :mod:`hub.edxml.model`.
"""

from hub.edxml.model import (
    DSIG_NS,
    NS,
    VN_TZ,
    AttachmentMeta,
    Bussiness,
    BussinessDocType,
    BussinessDocumentInfo,
    Code,
    DocumentType,
    EdocHeader,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    ManifestReference,
    MessageKind,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from hub.edxml.reader import (
    ParsedPackage,
    normalise_content_id,
    parse_package,
    read,
    read_tree,
)

__all__ = [
    "DSIG_NS",
    "NS",
    "VN_TZ",
    "AttachmentMeta",
    "Bussiness",
    "BussinessDocType",
    "BussinessDocumentInfo",
    "Code",
    "DocumentType",
    "EdocHeader",
    "EdocPackage",
    "EdxmlDate",
    "EdxmlTimestamp",
    "ManifestReference",
    "MessageKind",
    "Organization",
    "OtherInfo",
    "Package",
    "ParsedPackage",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusHeader",
    "StatusPackage",
    "TraceHeader",
    "TraceHeaderList",
    "normalise_content_id",
    "parse_package",
    "read",
    "read_tree",
]
