"""``inspect_package`` shows everything the reader reads: a walk over the parsed model asserts
each non-empty field appears in the JSON, and a census asserts the fixtures fill every field of
every model class — so a field added to the model later cannot be forgotten here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

import pytest

import hub.edxml.model as model
from hub.edxml.inspection import inspect_package, json_name, model_to_json
from hub.edxml.model import (
    AttachmentMeta,
    BussinessDocType,
    BussinessDocumentInfo,
    OtherInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    StaffInfo,
)
from hub.edxml.reader import parse_date, read
from hub.edxml.trace import append_trace
from hub.edxml.writer import write_edoc
from signing.keys import LoadedKey
from signing.xmldsig import sign_envelope
from tests.factories import (
    DEFAULT_WHEN,
    edoc_package,
    make_edoc,
    make_pdf_bytes,
    make_status,
    organization,
    pdf_attachment,
)

RELAY = "000.00.00.G01"


def _full_edoc(kind: BussinessDocType) -> bytes:
    """An edoc with every optional header field set, two hops, and the business parts of
    ``kind`` (update: BussinessDocumentInfo with receivers; replace: ReplacementInfoList)."""
    pkg = edoc_package(
        sender=organization("000.00.00.G22", organization_in_charge="Văn phòng Chính phủ",
                            organ_add="1 Hoàng Hoa Thám", email="vpcp@gov.vn",
                            telephone="080 43100", fax="080 43101", website="vpcp.vn"),
        to=["000.00.00.H41", "000.00.00.H14"],
        business_type=kind,
        content="Nội dung văn bản",
        due_date=parse_date("2024/04/15"),
        other_info=OtherInfo(priority=1, sphere_of_promulgation="Liên thông",
                             typer_notation="TVC", promulgation_amount=2, page_amount=3,
                             direction=True, appendixes=("Phụ lục I", "Phụ lục II")),
        response_for=(
            ResponseFor("000.00.00.H41", "12/UBND", parse_date("2024/03/01"), "a,1"),
            ResponseFor("000.00.00.H14", "34/UBND", parse_date("2024/03/02"), "b,2"),
        ),
        steering_type=2,
        trace=[("000.00.00.G22", DEFAULT_WHEN), (RELAY, DEFAULT_WHEN + dt.timedelta(hours=1))],
    )  # fmt: skip
    assert pkg.trace is not None
    assert pkg.trace.bussiness is not None
    b = pkg.trace.bussiness
    if kind is BussinessDocType.UPDATE:
        b = dataclasses.replace(
            b,
            document_info=BussinessDocumentInfo(
                1, 1, (Receiver("000.00.00.H41", 0), Receiver("000.00.02.H41", 1))
            ),
        )
    if kind is BussinessDocType.REPLACE:
        b = dataclasses.replace(
            b,
            replacements=(
                ReplacementInfo("000.00.00.G22,2024/03/01,7000/VPCP", ("000.00.00.H41",)),
            ),
        )
    b = dataclasses.replace(b, paper=1, staff_info=StaffInfo("Văn thư", "Trâm", "vt@gov.vn", "09"))
    pkg = dataclasses.replace(pkg, trace=dataclasses.replace(pkg.trace, bussiness=b))
    return write_edoc(pkg, [pdf_attachment(), pdf_attachment("phu-luc.pdf", content_id="2")])


@pytest.fixture(scope="module")
def packages(loaded_keys: dict[str, LoadedKey]) -> dict[str, bytes]:
    status = append_trace(
        make_status(staff=StaffInfo("Văn thư", "Bích", "vt@nghean.gov.vn", "0912")),
        RELAY,
        DEFAULT_WHEN,
    )
    return {
        "update": sign_envelope(_full_edoc(BussinessDocType.UPDATE), loaded_keys["agency"]),
        "replace": _full_edoc(BussinessDocType.REPLACE),
        "status": sign_envelope(status, loaded_keys["agency"]),
        "unsigned status": make_status(),
    }


# -------------------------------------------------------------------------- the walk


def _walk(value: Any, path: tuple[Any, ...], seen: set[tuple[str, str]]) -> list[tuple[Any, ...]]:
    """Paths of non-empty leaves; records (class, field) of every non-empty dataclass field."""
    if value in (None, "", ()):
        return []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        leaves: list[tuple[Any, ...]] = []
        for f in dataclasses.fields(value):
            child = getattr(value, f.name)
            if child not in (None, "", ()):
                seen.add((type(value).__name__, f.name))
            leaves += _walk(child, (*path, json_name(f.name)), seen)
        return leaves
    if isinstance(value, tuple):
        return [leaf for i, v in enumerate(value) for leaf in _walk(v, (*path, i), seen)]
    return [(*path, value)]


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def test_every_non_empty_model_field_appears_in_the_json(packages: dict[str, bytes]) -> None:
    seen: set[tuple[str, str]] = set()
    for name, data in packages.items():
        pkg = read(data)
        info = json.loads(json.dumps(inspect_package(data), ensure_ascii=False))
        for *path, value in _walk(pkg, (), seen):
            where = tuple(path)
            if where[0] == "signature":  # the bytes are summarised, not dumped
                assert info["signature"]["bytes"] == len(value), name
                continue
            if where[0] == "kind":
                assert info["kind"] == value.value
                continue
            got = _at(info, where)
            assert got == model_to_json(value), (name, where, got, value)
    # The census: the fixtures fill every field of every model class, so a new field makes
    # this test fail until the fixtures carry it (and the walk above then checks it is shown).
    classes = [
        c
        for c in vars(model).values()
        if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == model.__name__
    ]
    every = {(c.__name__, f.name) for c in classes for f in dataclasses.fields(c)}
    assert every - seen == set()


# -------------------------------------------------------------------------- what is added


def test_attachments_as_decoded_and_the_signature_summary(packages: dict[str, bytes]) -> None:
    info = inspect_package(packages["update"])
    att = info["attachments"]
    assert [a["content_id"] for a in att] == ["1", "2"]
    first = att[0]
    assert first["decoded"] is True
    assert first["zip"] is True  # the SDK habit: base64 of a ZIP holding one entry
    assert first["size"] > 0
    assert len(first["sha256"]) == 64
    (inside,) = first["files"]
    pdf = make_pdf_bytes("7816-VPCP-TTDT.pdf")  # what pdf_attachment() zipped
    assert (inside["size"], inside["sha256"]) == (len(pdf), hashlib.sha256(pdf).hexdigest())
    sig = info["signature"]
    assert sig["present"] is True
    assert sig["namespace"] == "xmldsig"
    assert sig["signature_method"].endswith("rsa-sha256")
    assert sig["references"] == [""]
    assert sig["certificate"]["readable"] is True
    assert "CN=" in sig["certificate"]["subject"]
    assert sig["shape_warnings"] == []
    assert info["business"] == {"type": 2, "name": "update"}
    assert inspect_package(packages["unsigned status"])["signature"] == {"present": False}


def test_an_attachment_that_does_not_decode_is_reported_not_raised() -> None:
    data = make_edoc(attachments=[pdf_attachment(), pdf_attachment("b.pdf", content_id="2")])
    start = data.index(b"<ContentTransferEncoded>") + len(b"<ContentTransferEncoded>")
    end = data.index(b"</ContentTransferEncoded>")
    broken = data[:start] + b"[elided]" + data[end:]
    att = inspect_package(broken)["attachments"]
    assert att[0]["decoded"] is False
    assert att[0]["problem"]["code"] == "edxml.attachment.base64"
    assert "[" in att[0]["problem"]["message_en"]
    assert att[1]["decoded"] is None  # not reached: the stream stops at the broken payload
    assert att[1]["attachment_name"] == "b.pdf"


def test_shared_elided_sample_shows_its_undecodable_attachment(
    shared_samples: Any,
) -> None:
    if shared_samples is None:
        pytest.skip("../shared/edxml-samples is absent on this machine")
    data = (shared_samples / "edoc_new.attachment-elided.edxml").read_bytes()
    info = inspect_package(data)
    (att,) = info["attachments"]
    assert att["decoded"] is False
    assert att["encoded_length"] > 0
    assert info["signature"]["namespace"] == "edxml"
    assert info["signature"]["certificate"] == {"readable": False, "chars": 11}
    assert "signature.placeholder" in info["signature"]["shape_warnings"]


def test_attachment_meta_fields_are_all_in_each_entry() -> None:
    entry = inspect_package(make_edoc())["attachments"][0]
    assert {json_name(f.name) for f in dataclasses.fields(AttachmentMeta)} <= set(entry)
