"""The shipped ``schemas/soap/edoc-hub.wsdl`` and the test service's WSDL state one contract.

The service is declared with spyne, which writes its own WSDL (served at ``?wsdl``); both are
loaded with zeep and compared operation by operation: the same operations, the same request and
response elements, the same members in the same order with the same XSD types and the same
repetition, the same faults. (Optionality is not compared: spyne marks every result
``minOccurs="0"``. Nor is ``soapAction``: spyne names it after the operation, the shipped WSDL
after namespace + operation as an ASMX service does; spyne dispatches on the body element.)
Also checked: the WSDL ships where :func:`hub.resources.data_path` finds it, and loads with the
adapter's hardened settings.
"""

from __future__ import annotations

from typing import Any

import pytest
import zeep
import zeep.xsd
from lxml import etree
from soap_service import SoapHubServer

from hub.resources import data_path

pytestmark = pytest.mark.integration

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
OPERATIONS = {
    "SendDocument",
    "GetPendingDocumentIds",
    "GetDocument",
    "ConfirmReceived",
    "UpdateTraces",
    "GetTraces",
    "GetOrganizations",
}


def _shape(element: Any) -> Any:
    """An element as comparable data: a simple type's XSD name, or a complex type's members
    ``(name, shape, repeated)`` in order (type names left out: spyne names its own)."""
    xsd_type = element.type
    if not isinstance(xsd_type, zeep.xsd.ComplexType):
        return xsd_type.qname.localname
    return tuple((name, _shape(child), child.max_occurs != 1) for name, child in xsd_type.elements)


def _operations(client: zeep.Client) -> dict[str, tuple[Any, ...]]:
    (binding,) = client.wsdl.bindings.values()
    out = {}
    for name, op in binding._operations.items():
        out[name] = (
            str(op.input.body.qname),
            _shape(op.input.body),
            str(op.output.body.qname),
            _shape(op.output.body),
        )
    return out


def _faults(wsdl: bytes) -> dict[str, set[str]]:
    tree = etree.fromstring(wsdl, etree.XMLParser(resolve_entities=False, no_network=True))
    (port_type,) = tree.iterfind(f"{{{WSDL_NS}}}portType")
    return {
        op.get("name"): {f.get("name") for f in op.iterfind(f"{{{WSDL_NS}}}fault")}
        for op in port_type.iterfind(f"{{{WSDL_NS}}}operation")
    }


@pytest.fixture(scope="module")
def spyne_wsdl() -> bytes:
    server = SoapHubServer()
    try:
        transport = zeep.Transport()
        try:
            body: bytes = transport.session.get(server.wsdl_url, timeout=10).content
        finally:
            transport.session.close()
        return body
    finally:
        server.stop()


def test_the_wsdl_ships_where_the_hub_finds_it_and_says_what_it_is() -> None:
    text = data_path("schemas", "soap", "edoc-hub.wsdl").read_text(encoding="utf-8")
    assert "NOT AN OFFICIAL ARTEFACT" in text
    assert "document/literal" in text


def test_shipped_and_spyne_wsdls_agree_operation_by_operation(
    spyne_wsdl: bytes, tmp_path: Any
) -> None:
    served = tmp_path / "spyne.wsdl"
    served.write_bytes(spyne_wsdl)
    settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_external=True)
    shipped = zeep.Client(str(data_path("schemas", "soap", "edoc-hub.wsdl")), settings=settings)
    spyne = zeep.Client(str(served), settings=settings)

    ours, theirs = _operations(shipped), _operations(spyne)
    assert set(ours) == OPERATIONS
    assert set(theirs) == OPERATIONS
    for name in sorted(OPERATIONS):
        assert ours[name] == theirs[name], name


def test_the_shape_comparison_sees_a_difference(spyne_wsdl: bytes, tmp_path: Any) -> None:
    """The comparison is not blind: rename one member in spyne's WSDL and it differs."""
    changed = spyne_wsdl.replace(b'name="senderCode"', b'name="senderId"', 1)
    assert changed != spyne_wsdl
    path = tmp_path / "changed.wsdl"
    path.write_bytes(changed)
    shipped = zeep.Client(str(data_path("schemas", "soap", "edoc-hub.wsdl")))
    assert _operations(zeep.Client(str(path))) != _operations(shipped)


def test_every_operation_declares_the_same_fault(spyne_wsdl: bytes) -> None:
    shipped = data_path("schemas", "soap", "edoc-hub.wsdl").read_bytes()
    assert _faults(shipped) == _faults(spyne_wsdl)
    assert _faults(shipped) == {name: {"EdocFault"} for name in OPERATIONS}
