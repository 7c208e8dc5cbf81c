"""PKCS#11 token keys (USB tokens, HSMs, SoftHSM2 in tests) behind :class:`signing.keys.LoadedKey`.

Imported only when a ``pkcs11:`` key reference is loaded, so the PKCS#11 library is never a
cost for file keys. One logged-in session per loaded key, kept open for the key's life
(a login costs tens of milliseconds and some tokens count failed/extra logins).

Hazards:

* The module reads its configuration (``SOFTHSM2_CONF`` for SoftHSM2) at ``C_Initialize``, i.e.
  the first time a module path is loaded in the process; python-pkcs11 keeps one instance per
  path.
* A wrong PIN decrements the token's retry counter; after a few the PIN locks. The error says
  so, and the PIN itself is never included in any message.
* Login state is per process and token (PKCS#11 v2.40 §5.6): while one key of a token is
  loaded, loading another key of the same token reuses that login and does not re-check the PIN.
* Token errors are translated here, once, into :class:`hub.errors.KeyAccessError`.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from hub.errors import KeyAccessError
from signing.keys import KeyRef, LoadedKey, raw_ecdsa_to_der


def _err(ref: KeyRef, en: str, vi: str, code: str) -> KeyAccessError:
    return KeyAccessError(
        f"{en} ({ref.describe()})", message_vi=f"{vi} ({ref.describe()})", code=code
    )


def load_token_key(ref: KeyRef, pin: str | None, module: str) -> LoadedKey:
    """Open a session on ``ref.token``, log in with ``pin`` and find the key and certificate."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11e

    try:
        lib = pkcs11.lib(module)
    except (RuntimeError, OSError) as exc:
        raise _err(
            ref,
            f"cannot load the PKCS#11 module {module}",
            f"không nạp được mô-đun PKCS#11 {module}",
            "key.module",
        ) from exc
    try:
        token = lib.get_token(token_label=ref.token)
    except p11e.NoSuchToken:
        raise _err(
            ref,
            "no token with this label is present",
            "không tìm thấy thiết bị ký (token) có nhãn này",
            "key.no_token",
        ) from None
    except p11e.MultipleTokensReturned:
        raise _err(
            ref, "several tokens carry this label", "có nhiều token cùng nhãn này", "key.no_token"
        ) from None
    if pin is None:
        raise _err(
            ref,
            "a PIN is needed for the token (prompt or LIENTHONG_KEY_PIN)",
            "cần mã PIN của token (nhập khi được hỏi hoặc biến LIENTHONG_KEY_PIN)",
            "key.pin_missing",
        )
    try:
        try:
            session = token.open(user_pin=pin)
        except p11e.UserAlreadyLoggedIn:
            # PKCS#11 login state is per application and token (v2.40 §5.6): another key of
            # this process already logged in, and new sessions share that login.
            session = token.open()
    except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
        raise _err(
            ref,
            "wrong PIN for the token (repeated failures lock it)",
            "sai mã PIN của token (nhập sai nhiều lần sẽ khóa token)",
            "key.wrong_pin",
        ) from None
    except p11e.PinLocked:
        raise _err(
            ref, "the token PIN is locked", "mã PIN của token đã bị khóa", "key.pin_locked"
        ) from None
    except p11e.PKCS11Error as exc:
        raise _err(
            ref,
            f"cannot open the token: {type(exc).__name__}",
            f"không mở được token: {type(exc).__name__}",
            "key.token",
        ) from None
    try:
        query: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        cquery: dict[Any, Any] = {Attribute.CLASS: ObjectClass.CERTIFICATE}
        if ref.object is not None:
            query[Attribute.LABEL] = ref.object
            cquery[Attribute.LABEL] = ref.object
        if ref.object_id is not None:
            query[Attribute.ID] = ref.object_id
            cquery[Attribute.ID] = ref.object_id
        keys = list(session.get_objects(query))
        certs = list(session.get_objects(cquery))
        if len(keys) != 1:
            what = "no private key" if not keys else "several private keys"
            vi = "không có khóa bí mật" if not keys else "có nhiều khóa bí mật"
            raise _err(
                ref,
                f"{what} with this label on the token",
                f"{vi} với nhãn này trên token",
                "key.no_object",
            )
        if len(certs) != 1:
            raise _err(
                ref,
                "no single certificate with this label on the token",
                "không có đúng một chứng thư với nhãn này trên token",
                "key.no_certificate",
            )
        key: Any = keys[0]
        cert = x509.load_der_x509_certificate(bytes(certs[0][Attribute.VALUE]))
        chain = _other_certs(session, cert)
        is_ec = key.key_type == KeyType.EC
    except KeyAccessError:
        session.close()
        raise
    except p11e.PKCS11Error as exc:
        session.close()
        raise _err(
            ref,
            f"token error: {type(exc).__name__}",
            f"lỗi token: {type(exc).__name__}",
            "key.token",
        ) from None

    def sign_fn(data: bytes, algo: hashes.HashAlgorithm) -> bytes:
        try:
            if is_ec:
                # Many tokens (SoftHSM2 2.6 among them) implement only CKM_ECDSA on a digest,
                # not the CKM_ECDSA_SHA* combinations: hash here, sign the digest there.
                h = hashes.Hash(algo)
                h.update(data)
                raw: bytes = key.sign(h.finalize(), mechanism=Mechanism.ECDSA)
            else:
                raw = key.sign(data, mechanism=_mechanism(algo))
        except p11e.PKCS11Error as exc:
            raise _err(
                ref,
                f"the token refused to sign: {type(exc).__name__}",
                f"token từ chối ký: {type(exc).__name__}",
                "key.token",
            ) from None
        return raw_ecdsa_to_der(raw) if is_ec else raw

    return LoadedKey(ref, cert, chain, sign_fn, closer=session.close, pkcs11_session=session)


def _mechanism(algo: hashes.HashAlgorithm) -> Any:
    """CKM_SHA*_RSA_PKCS for ``algo`` (PKCS#1 v1.5 with the DigestInfo built by the token)."""
    from pkcs11 import Mechanism

    return getattr(Mechanism, f"{algo.name.upper().replace('-', '')}_RSA_PKCS")


def _other_certs(session: Any, cert: x509.Certificate) -> tuple[x509.Certificate, ...]:
    from pkcs11 import Attribute, ObjectClass

    out = []
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        other = x509.load_der_x509_certificate(bytes(obj[Attribute.VALUE]))
        if other != cert:
            out.append(other)
    return tuple(out)


def pyhanko_signer(key: LoadedKey, chain: list[Any]) -> Any:
    """A ``pyhanko.sign.pkcs11.PKCS11Signer`` on the key's open session."""
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign.pkcs11 import PKCS11Signer

    assert key.ref.scheme == "pkcs11"
    return PKCS11Signer(
        key._session,
        key_label=key.ref.object,
        key_id=key.ref.object_id,
        signing_cert=asn1_x509.Certificate.load(
            key.certificate.public_bytes(serialization.Encoding.DER)
        ),
        ca_chain=chain,
        other_certs_to_pull=None,
    )
