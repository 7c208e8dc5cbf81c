"""``POST /api/v1/sign/seal``: the agency seal (Nghị định 30, Art. 33) for hosted systems.

The request body is the PDF itself (``Content-Type: application/pdf``, raw bytes — no multipart:
the body is what the signed ``hash-file`` covers, exactly as ``POST /api/v1/packages``), the
agency is the ``agency`` query parameter (part of the signed ``path``). The answer is the sealed
PDF (``application/pdf``) with the facts in headers: ``X-Seal-Level`` (``PAdES-B-T`` /
``PAdES-B-B``), ``X-Sha256-In``, ``X-Sha256-Out``. Refusals are the REST error document:
403 ``seal.not_hosted``, 404 ``seal.no_key``, 409 ``seal.already_sealed``, 422
``seal.no_person_signature`` / ``seal.person_signature_invalid`` /
``seal.person_signature_indeterminate`` / ``seal.person_signature_time`` / ``seal.unreadable``.

Authentication is the REST API's own (the dependency comes from :func:`adapters.http.rest.
build_router`); the endpoint is a plain ``def`` so that verification and signing — CPU work and,
with a token, blocking PKCS#11 calls — run in the worker threadpool, never on the event loop.
"""

# No ``from __future__ import annotations``: FastAPI resolves endpoint annotations at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from signing.seal_service import SealService

#: The route, below the REST prefix.
SEAL_PATH = "/sign/seal"

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the calling system does not host this agency (`seal.not_hosted`)"},
    404: {"description": "no seal key is configured for the agency (`seal.no_key`)"},
    409: {"description": "the PDF already carries an agency signature (`seal.already_sealed`)"},
    422: {
        "description": "no, an invalid, an unproven or a future person's signature "
        "(`seal.no_person_signature`, `seal.person_signature_invalid`, "
        "`seal.person_signature_indeterminate`, `seal.person_signature_time`)"
    },
}


def add_seal_route(router: APIRouter, sealer: SealService, auth: Any) -> None:
    """Register the seal endpoint on the ``/api/v1`` ``router``; ``auth`` is its dependency
    type for large bodies (``Annotated[Authenticated, Depends(…)]``)."""

    @router.post(
        SEAL_PATH,
        summary="Apply the agency's seal (agency signature) to a PDF the person has signed",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}, **_ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    def seal(
        authenticated: auth,
        agency: Annotated[str, Query(min_length=1, max_length=64)],
    ) -> Response:
        """Seal the PDF in the body for ``agency`` (an agency the calling system hosts).

        The body is the raw PDF; its SHA-256 is the signed ``hash-file``. The PDF must carry
        the competent person's valid, trusted signature, made before now, and no agency
        signature yet. Every attempt is audited (system, agency, PDF digests in and out).
        """
        result = sealer.seal(authenticated.verified.system_id, agency, authenticated.body)
        return Response(
            result.pdf,
            media_type="application/pdf",
            headers={
                "X-Seal-Level": result.level,
                "X-Sha256-In": result.sha256_in,
                "X-Sha256-Out": result.sha256_out,
            },
        )
