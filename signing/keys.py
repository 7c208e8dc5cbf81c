"""Signing keys: load once, keep alive, sign many times.

Key references (the only way configuration names a key):

* ``file:PATH`` — a PKCS#12 file (``.p12``/``.pfx``) or a PEM file holding the private key and
  the certificate (plus, optionally, the chain). An encrypted file's password is the PIN.
* ``pkcs11:token=LABEL;object=LABEL[;id=%01]`` — an RFC 7512 PKCS#11 URI naming a token and the
  key/certificate object label (the private key and its certificate share the label, as token
  vendors and ``softhsm2-util --import`` do). The module is ``?module-path=…`` in the URI or the
  ``module`` argument (default: SoftHSM2's). ``pin-value`` / ``pin-source`` attributes are
  refused: a PIN in a URI ends up in configuration files, shell history and logs.

PINs come from the ``pin`` argument (a prompt's answer) or the ``LIENTHONG_KEY_PIN`` environment
variable — never from the command line — and never appear in a message, ``repr`` or log.

Hazards: loading a PEM RSA key costs ≈ 30 ms (key validity check) and a PKCS#11 login far more,
so a :class:`LoadedKey` is built once by the composition root and reused. pyHanko's
``SimpleSigner`` re-parses its key on every signature; :meth:`LoadedKey.pyhanko_signer` returns
one that signs with the already-loaded key. Every failure to obtain a usable key (wrong PIN,
missing token or object, expired certificate) is a :class:`hub.errors.KeyAccessError`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import pkcs12

from hub.errors import KeyAccessError

#: The environment variable a PIN / key password may come from.
PIN_ENV = "LIENTHONG_KEY_PIN"
#: Default PKCS#11 module (Debian's SoftHSM2).
DEFAULT_PKCS11_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _hash(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name.lower().replace("-", "")]()
    except KeyError:
        raise KeyAccessError(
            f"unsupported hash algorithm {name!r}",
            message_vi=f"thuật toán băm không được hỗ trợ: {name!r}",
            code="key.hash",
        ) from None


@dataclass(frozen=True)
class KeyRef:
    """A parsed key reference (no secrets in it)."""

    scheme: str
    """``file`` or ``pkcs11``."""
    path: Path | None = None
    """The key file, for ``file:``."""
    token: str | None = None
    """Token label, for ``pkcs11:``."""
    object: str | None = None
    """Key / certificate object label, for ``pkcs11:``."""
    object_id: bytes | None = None
    """Object CKA_ID, for ``pkcs11:`` (``id=%01%02``)."""
    module: str | None = None
    """PKCS#11 module path from ``?module-path=``."""

    @classmethod
    def parse(cls, ref: str) -> KeyRef:
        """Parse ``file:PATH`` or an RFC 7512 ``pkcs11:`` URI."""
        if ref.startswith("file:"):
            return cls("file", path=Path(ref[len("file:") :]).expanduser())
        if ref.startswith("pkcs11:"):
            body, _, query = ref[len("pkcs11:") :].partition("?")
            attrs: dict[str, str] = {}
            for part in (p for p in body.split(";") if p):
                name, _, value = part.partition("=")
                attrs[name.strip()] = value
            qattrs = {k: v for k, _, v in (q.partition("=") for q in query.split("&") if q)}
            if {"pin-value", "pin-source"} & (attrs.keys() | qattrs.keys()):
                raise KeyAccessError(
                    "PINs may not be written in a key reference; use a prompt or "
                    f"the {PIN_ENV} environment variable",
                    message_vi=f"không được ghi mã PIN trong tham chiếu khóa; dùng lời nhắc "
                    f"hoặc biến môi trường {PIN_ENV}",
                    code="key.pin_in_uri",
                )
            unq = urllib.parse.unquote
            token = unq(attrs["token"]) if "token" in attrs else None
            obj = unq(attrs["object"]) if "object" in attrs else None
            oid = urllib.parse.unquote_to_bytes(attrs["id"]) if "id" in attrs else None
            if token is None or (obj is None and oid is None):
                raise KeyAccessError(
                    "a pkcs11: key reference needs token= and object= (or id=)",
                    message_vi="tham chiếu pkcs11: cần token= và object= (hoặc id=)",
                    code="key.bad_ref",
                )
            module = unq(qattrs["module-path"]) if "module-path" in qattrs else None
            return cls("pkcs11", token=token, object=obj, object_id=oid, module=module)
        raise KeyAccessError(
            "a key reference starts with file: or pkcs11:",
            message_vi="tham chiếu khóa phải bắt đầu bằng file: hoặc pkcs11:",
            code="key.bad_ref",
        )

    def describe(self) -> str:
        """A loggable description (no secret is ever part of a KeyRef)."""
        if self.scheme == "file":
            return f"file:{self.path}"
        return f"pkcs11:token={self.token};object={self.object}"


class LoadedKey:
    """A usable signing key with its certificate and chain; build once, reuse.

    ``sign(data, hash)`` returns a PKCS#1 v1.5 signature for RSA and a DER ``ECDSA-Sig-Value``
    for EC keys. Thread-safe (PKCS#11 sessions are serialised by a lock).
    """

    def __init__(
        self,
        ref: KeyRef,
        certificate: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        sign_fn: Callable[[bytes, hashes.HashAlgorithm], bytes],
        *,
        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
        closer: Callable[[], None] | None = None,
        pkcs11_session: Any = None,
    ) -> None:
        self.ref = ref
        self.certificate = certificate
        self.chain = chain
        self._sign_fn = sign_fn
        self._private_key = private_key
        self._closer = closer
        self._session = pkcs11_session
        self._lock = threading.Lock()
        self._pyhanko: Any = None

    def __repr__(self) -> str:
        return f"<LoadedKey {self.ref.describe()} {self.certificate.subject.rfc4514_string()}>"

    @property
    def is_ec(self) -> bool:
        return isinstance(self.certificate.public_key(), ec.EllipticCurvePublicKey)

    def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
        """Sign ``data`` (hashing it with ``hash_name``)."""
        algo = _hash(hash_name)
        with self._lock:
            return self._sign_fn(data, algo)

    def signxml_key(self) -> Any:
        """A key object for ``signxml.XMLSigner.sign(key=…)`` (file keys: the key itself)."""
        if self._private_key is not None:
            return self._private_key
        return _TokenKeyAdapter(self)

    def pyhanko_signer(self) -> Any:
        """A pyHanko signer for this key, built once (``SimpleSigner`` / ``PKCS11Signer``)."""
        if self._pyhanko is None:
            self._pyhanko = _make_pyhanko_signer(self)
        return self._pyhanko

    def close(self) -> None:
        """Release the token session (file keys: nothing to do)."""
        if self._closer is not None:
            self._closer()
            self._closer = None


class _TokenKeyAdapter:
    """What signxml needs of a private key (``sign``, ``key_size``, ``public_key``) on a token."""

    def __init__(self, key: LoadedKey) -> None:
        self._key = key
        pub = key.certificate.public_key()
        assert isinstance(pub, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        self._pub = pub
        self.key_size = pub.key_size
        if isinstance(pub, ec.EllipticCurvePublicKey):
            self.curve = pub.curve

    def public_key(self) -> Any:
        return self._pub

    def sign(
        self,
        data: bytes,
        padding: Any = None,
        algorithm: Any = None,
        signature_algorithm: Any = None,
    ) -> bytes:
        """RSA: ``sign(data, padding=PKCS1v15(), algorithm=hash)``; EC (cryptography's API):
        ``sign(data, signature_algorithm=ECDSA(hash))``. Returns what cryptography would."""
        if padding is not None and not isinstance(padding, asym_padding.PKCS1v15):
            raise KeyAccessError(
                "token keys sign with PKCS#1 v1.5 only (no RSA-PSS)",
                message_vi="khóa trên token chỉ ký theo PKCS#1 v1.5 (không hỗ trợ RSA-PSS)",
                code="key.mechanism",
            )
        chosen = signature_algorithm if signature_algorithm is not None else algorithm
        algo = chosen.algorithm if isinstance(chosen, ec.ECDSA) else chosen
        if not isinstance(algo, hashes.HashAlgorithm):
            raise KeyAccessError("unsupported signing request", code="key.hash")
        return self._key.sign(data, algo.name)


def resolve_pin(
    pin: str | None, env: Mapping[str, str] | None, prompt: Callable[[], str] | None
) -> str | None:
    """The PIN from the argument, else ``LIENTHONG_KEY_PIN``, else the prompt, else None."""
    if pin is not None:
        return pin
    value = (os.environ if env is None else env).get(PIN_ENV)
    if value:
        return value
    return prompt() if prompt is not None else None


def load_key(
    ref: str | KeyRef,
    *,
    pin: str | None = None,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[], str] | None = None,
    module: str | None = None,
    check_validity: bool = True,
    now: dt.datetime | None = None,
) -> LoadedKey:
    """Load the key named by ``ref``; raise :class:`KeyAccessError` when it cannot be used.

    ``check_validity`` refuses a certificate outside its validity period (signing with an
    expired certificate yields signatures every verifier rejects).
    """
    kref = ref if isinstance(ref, KeyRef) else KeyRef.parse(ref)
    if kref.scheme == "file":
        key = _load_file(kref, resolve_pin(pin, env, None), prompt)
    else:
        from signing import pkcs11_keys  # the PKCS#11 library loads only when a token is used

        secret = resolve_pin(pin, env, prompt)
        key = pkcs11_keys.load_token_key(
            kref, secret, module or kref.module or DEFAULT_PKCS11_MODULE
        )
    if check_validity:
        _check_validity(key, now or dt.datetime.now(dt.UTC))
    return key


def _check_validity(key: LoadedKey, now: dt.datetime) -> None:
    cert = key.certificate
    subject = cert.subject.rfc4514_string()
    if now > cert.not_valid_after_utc:
        key.close()
        raise KeyAccessError(
            f"the signing certificate {subject} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
            message_vi=f"chứng thư ký {subject} đã hết hạn ngày "
            f"{cert.not_valid_after_utc:%d/%m/%Y}",
            code="key.expired",
        )
    if now < cert.not_valid_before_utc:
        key.close()
        raise KeyAccessError(
            f"the signing certificate {subject} is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d}",
            message_vi=f"chứng thư ký {subject} chỉ có hiệu lực từ "
            f"{cert.not_valid_before_utc:%d/%m/%Y}",
            code="key.not_yet_valid",
        )


def _spki(pub: Any) -> bytes:
    der: bytes = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _file_error(path: Path, what_en: str, what_vi: str, code: str) -> KeyAccessError:
    return KeyAccessError(
        f"{what_en}: {path}", message_vi=f"{what_vi}: {path}", code=code, path=str(path)
    )


def _load_file(ref: KeyRef, secret: str | None, prompt: Callable[[], str] | None) -> LoadedKey:
    assert ref.path is not None
    path = ref.path
    try:
        data = path.read_bytes()
    except OSError:
        raise _file_error(
            path, "cannot read the key file", "không đọc được tệp khóa", "key.missing"
        ) from None
    is_pem = b"-----BEGIN" in data
    encrypted = b"ENCRYPTED" in data if is_pem else True
    if encrypted and secret is None and prompt is not None:
        secret = prompt()
    password = secret.encode() if secret is not None else None
    try:
        if is_pem:
            pkey = serialization.load_pem_private_key(
                data, password=password if b"ENCRYPTED" in data else None
            )
            certs = x509.load_pem_x509_certificates(data) if b"CERTIFICATE-----" in data else []
            spki = _spki(pkey.public_key())
            cert = next((c for c in certs if _spki(c.public_key()) == spki), None)
            chain = tuple(c for c in certs if c is not cert)
        else:
            p12_key, cert, extra = pkcs12.load_key_and_certificates(data, password)
            if p12_key is None:
                raise ValueError("no private key in the PKCS#12 file")
            pkey = p12_key
            chain = tuple(extra)
    except (ValueError, TypeError) as exc:
        low = str(exc).lower()
        if "password" in low or "decrypt" in low or "mac" in low or "bad" in low:
            raise _file_error(
                path,
                "wrong password (PIN) for the key file, or no password given",
                "sai mật khẩu (PIN) của tệp khóa, hoặc chưa nhập mật khẩu",
                "key.wrong_pin",
            ) from None
        raise _file_error(
            path,
            "the key file is not a PKCS#12 or PEM key",
            "tệp khóa không phải PKCS#12 hoặc PEM",
            "key.format",
        ) from None
    if not isinstance(pkey, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise _file_error(
            path,
            "no RSA or EC private key in the file",
            "tệp không chứa khóa bí mật RSA hoặc EC",
            "key.format",
        )
    if cert is None:
        raise _file_error(
            path,
            "no certificate matching the private key in the file",
            "tệp không chứa chứng thư khớp với khóa bí mật",
            "key.no_certificate",
        )
    private_key = pkey

    def sign_fn(data: bytes, algo: hashes.HashAlgorithm) -> bytes:
        if isinstance(private_key, rsa.RSAPrivateKey):
            return private_key.sign(data, padding.PKCS1v15(), algo)
        return private_key.sign(data, ec.ECDSA(algo))

    return LoadedKey(ref, cert, chain, sign_fn, private_key=private_key)


def _make_pyhanko_signer(key: LoadedKey) -> Any:
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.signers.pdf_cms import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def asn1(cert: x509.Certificate) -> Any:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    if key._session is not None:
        from signing import pkcs11_keys

        return pkcs11_keys.pyhanko_signer(key, [asn1(c) for c in key.chain])
    assert key._private_key is not None
    loaded = key._private_key

    class _LoadedKeySigner(SimpleSigner):
        """SimpleSigner that signs with the already-loaded key (no per-signature reload)."""

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mech = self.get_signature_mechanism_for_digest(digest_algorithm)
            if mech.signature_algo == "rsassa_pss":
                return super().sign_raw(data, digest_algorithm)
            return key.sign(data, digest_algorithm)

    der = loaded.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    registry = SimpleCertificateStore.from_certs([asn1(c) for c in key.chain])  # type: ignore[no-untyped-call]
    return _LoadedKeySigner(
        signing_cert=asn1(key.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=registry,
    )


def raw_ecdsa_to_der(raw: bytes) -> bytes:
    """PKCS#11 CKM_ECDSA gives r‖s; X.509/CMS users want DER ``ECDSA-Sig-Value`` (RFC 3279)."""
    half = len(raw) // 2
    return encode_dss_signature(
        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    )
