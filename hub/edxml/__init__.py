"""The edXML toolkit: read, write, validate and relay QCVN 102:2016 packages. Pure code, no I/O.

Public API (re-exported here; import from ``hub.edxml``):

* :func:`read`, :func:`parse_package`, :func:`read_tree` — bytes / a parsed root → package values
  (:mod:`hub.edxml.reader`).
* :func:`iter_attachments` — stream attachment payloads out of package bytes
  (:mod:`hub.edxml.attachments`).
* :func:`write_edoc`, :func:`write_edoc_to`, :func:`write_status` with
  :class:`OutgoingAttachment` — SDK-layout writer (:mod:`hub.edxml.writer`).
* :func:`append_trace` — a relay's ``TraceHeader`` by textual insertion (:mod:`hub.edxml.trace`).
* the frozen values of :mod:`hub.edxml.model`.
"""

from hub.edxml.attachments import ExtractedAttachment, iter_attachments
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
from hub.edxml.trace import append_trace
from hub.edxml.writer import OutgoingAttachment, write_edoc, write_edoc_to, write_status

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
    "ExtractedAttachment",
    "ManifestReference",
    "MessageKind",
    "Organization",
    "OtherInfo",
    "OutgoingAttachment",
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
    "append_trace",
    "iter_attachments",
    "normalise_content_id",
    "parse_package",
    "read",
    "read_tree",
    "write_edoc",
    "write_edoc_to",
    "write_status",
]
