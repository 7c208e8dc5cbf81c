"""The profile check on the official SDK samples (when ``../shared/edxml-samples`` exists).

What the validator says about each sample, and why (see also the module docs of
``hub.edxml.profile``):

* ``dc0bdef0-….edxml`` — valid, three warnings about its envelope ``Signature``: it is in the
  edXML namespace, not XML-DSig (``signature.not_xmldsig``); it names rsa-sha1 and sha1
  (``signature.weak_algorithm``); its ``X509Certificate`` is an 11-character stub
  (``signature.placeholder``). QCVN 102 §6 practice: keep it, let policy decide — so warnings.
  Its order quirks (``Bussiness`` before ``TraceHeader``) are accepted; both sides say
  ``application/zip`` and the payload is a ZIP, so no content-type warning.
* ``edoc_new.attachment-elided.edxml`` — invalid: the base64 text was replaced by a note, so
  ``attachment.undecodable`` (error, position 0, character ``[``). Also warnings: ``To``
  carries ``28.22.H17`` (``agency.malformed``: three groups), the first ``TraceHeader`` is
  ``000.00.00.G22`` while ``From`` is ``000.00.00.A80`` (``trace.sender_mismatch``), and the
  same three signature warnings.
* ``status*.edxml`` — valid, no findings (statuses 01–06 from ``000.00.00.H41``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.edxml.model import EdocPackage, StatusPackage
from hub.edxml.problems import Severity
from hub.edxml.profile import ProfileOptions, validate

SIGNATURE_WARNINGS = ["signature.not_xmldsig", "signature.weak_algorithm", "signature.placeholder"]
EXPECTED = {
    "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml": (True, SIGNATURE_WARNINGS),
    "edoc_new.attachment-elided.edxml": (
        False,
        ["agency.malformed", "trace.sender_mismatch", "attachment.undecodable",
         *SIGNATURE_WARNINGS],
    ),
    "status.edxml": (True, []),
    "status_inbox_01.edxml": (True, []),
    "status_rejection_02.edxml": (True, []),
    "status_acceptance_03.edxml": (True, []),
    "status_assignment_04.edxml": (True, []),
    "status_processing_05.edxml": (True, []),
    "status_finish_06.edxml": (True, []),
}  # fmt: skip


def _folder(shared_samples: Path | None) -> Path:
    if shared_samples is None:
        pytest.skip("../shared/edxml-samples is absent on this machine")
    return shared_samples


def test_every_sample_file_is_covered(shared_samples: Path | None) -> None:
    folder = _folder(shared_samples)
    assert sorted(p.name for p in folder.glob("*.edxml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_verdict(shared_samples: Path | None, name: str) -> None:
    data = (_folder(shared_samples) / name).read_bytes()
    ok, codes = EXPECTED[name]
    report = validate(data, ProfileOptions(decode_attachments=True))
    assert report.ok is ok
    assert report.codes() == codes
    expected_kind = StatusPackage if name.startswith("status") else EdocPackage
    assert isinstance(report.package, expected_kind)


def test_elided_attachment_problem_is_clear(shared_samples: Path | None) -> None:
    data = (_folder(shared_samples) / "edoc_new.attachment-elided.edxml").read_bytes()
    report = validate(data)
    [p] = report.errors
    assert p.code == "attachment.undecodable"
    assert p.severity is Severity.ERROR
    assert p.path == "/edXML/AttachmentEncoded/Attachment/ContentTransferEncoded"
    assert p.message_en == "not base64: character '[' at position 0"
    assert p.message_vi == "không phải base64: ký tự '[' ở vị trí 0"
