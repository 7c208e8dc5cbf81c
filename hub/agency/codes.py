"""Agency identifier codes (mã định danh): the QCVN 102:2016 form and the QĐ 20/2020 form.

Contract: :meth:`AgencyCode.parse` takes any text and returns a frozen :class:`AgencyCode`; it
never raises. A code that fits neither form comes back with ``form`` :attr:`CodeForm.MALFORMED`
and a ``problem`` saying why, because malformed codes travel in real packages (``01.02.G22``,
``999.010.01.H22``, system ids such as ``vxp.saas.03`` used as ``OrganId``) and whether to refuse
them is a policy decision, not a parsing one.

The two forms:

* **QCVN 102:2016** (Phụ lục, "mã định danh"): 13 characters ``VVV.ZZ.YY.LNN``, four groups with
  **level 1 on the right**. ``LNN`` is the level-1 key: a letter class (``G`` central bodies,
  ``H`` a province's People's Committee, ``K`` its People's Council, others for the Party, the
  National Assembly, courts… — the set is open, so any capital letter is accepted) and two
  digits. ``YY`` is level 2, ``ZZ`` level 3, ``VVV`` level 4. The level is the position, counted
  from the right, of the leftmost non-zero group (``000.00.00.G22`` level 1, ``000.00.05.H41``
  level 2, ``000.12.05.H41`` level 3).
* **QĐ 20/2020/QĐ-TTg**: up to 35 characters of ``A–Z 0–9 .`` in dot-separated groups, one group
  per level, **level 1 on the left** (a letter and two digits, e.g. ``H41``, ``H41.02.05``). The
  national registry keeps both forms per agency; so does :mod:`hub.agency.registry`.

Hazard: the hierarchy is *data*. :meth:`AgencyCode.fallback_parent` (zero the leftmost non-zero
group) is arithmetic that real registrations contradict (a district ``001.00.10.H47`` registered
under ``001.00.00.H47``); the registry uses it only when a record names no parent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

#: QCVN 102:2016 ``VVV.ZZ.YY.LNN``: three numeric groups, then a letter and two digits.
_QCVN102 = re.compile(r"(\d{3})\.(\d{2})\.(\d{2})\.([A-Z])(\d{2})")
#: QĐ 20/2020: level-1 group (letter + two digits) first, then one group per level.
_QD20 = re.compile(r"([A-Z])(\d{2})(?:\.[A-Z0-9]+)*")
#: QĐ 20/2020, Điều 4: a code has at most 35 characters.
QD20_MAX_LENGTH = 35
_ALLOWED = re.compile(r"[A-Za-z0-9.]*")


class CodeForm(StrEnum):
    """Which form a code was written in."""

    QCVN102 = "qcvn102"
    QD20 = "qd20"
    MALFORMED = "malformed"


def normalize(text: str) -> str:
    """The comparable form of a code: NFC, surrounding whitespace removed.

    Case is kept: a lowercase code is malformed, and a lookup key is made with
    :func:`lookup_key`.
    """
    return unicodedata.normalize("NFC", text).strip()


def lookup_key(text: str) -> str:
    """The key a registry indexes a code under: :func:`normalize`, then upper case."""
    return normalize(text).upper()


@dataclass(frozen=True, slots=True)
class AgencyCode:
    """One parsed agency code. Build with :meth:`parse`; never raises.

    For a malformed code, ``level``, ``level1_key`` and ``letter`` are ``None`` and ``problem``
    says (in English, stable wording) what is wrong; ``problem_vi`` says it in Vietnamese.
    """

    #: The code as written (NFC-normalised, stripped).
    text: str
    #: The form it was recognised as.
    form: CodeForm
    #: The groups in written order (QCVN 102: ``VVV, ZZ, YY, LNN``; QĐ 20: level 1 first).
    groups: tuple[str, ...] = ()
    #: 1 for a top-level body (ministry, province); ``None`` when malformed.
    level: int | None = None
    #: The level-1 group, e.g. ``"H41"``, ``"G22"``.
    level1_key: str | None = None
    #: The level-1 letter class, e.g. ``"H"``; an open set.
    letter: str | None = None
    #: Why the code is malformed (English), ``None`` otherwise.
    problem: str | None = None
    #: Why the code is malformed (Vietnamese), ``None`` otherwise.
    problem_vi: str | None = None

    @classmethod
    def parse(cls, text: str) -> AgencyCode:
        """Recognise ``text`` as a QCVN 102 or QĐ 20 code, or return a malformed one."""
        code = normalize(text)
        m = _QCVN102.fullmatch(code)
        if m:
            vvv, zz, yy, letter, nn = m.groups()
            key = f"{letter}{nn}"
            lower = (vvv, zz, yy)  # left to right: level 4, 3, 2
            level = 1
            for i, group in enumerate(lower):
                if int(group) != 0:
                    level = 4 - i
                    break
            return cls(code, CodeForm.QCVN102, (vvv, zz, yy, key), level, key, letter)
        m = _QD20.fullmatch(code)
        if m and len(code) <= QD20_MAX_LENGTH:
            groups = tuple(code.split("."))
            return cls(code, CodeForm.QD20, groups, len(groups), groups[0], m.group(1))
        en, vi = _diagnose(code)
        return cls(code, CodeForm.MALFORMED, tuple(code.split(".")), problem=en, problem_vi=vi)

    @property
    def is_valid(self) -> bool:
        """True for a well-formed code of either form."""
        return self.form is not CodeForm.MALFORMED

    def fallback_parent(self) -> AgencyCode | None:
        """The parent by arithmetic, for use only when the registry names none.

        QCVN 102: zero the leftmost non-zero group (``000.12.05.H41`` → ``000.00.05.H41``).
        QĐ 20: drop the last group (``H41.02.05`` → ``H41.02``). ``None`` at level 1 and for a
        malformed code. See the module docstring for why this is only a fallback.
        """
        if self.form is CodeForm.QCVN102 and self.level and self.level > 1:
            groups = list(self.groups)
            index = 4 - self.level  # position of the leftmost non-zero group
            groups[index] = "0" * len(groups[index])
            return AgencyCode.parse(".".join(groups))
        if self.form is CodeForm.QD20 and len(self.groups) > 1:
            return AgencyCode.parse(".".join(self.groups[:-1]))
        return None

    def __str__(self) -> str:
        return self.text


def parse_code(text: str) -> AgencyCode:
    """Shorthand for :meth:`AgencyCode.parse`."""
    return AgencyCode.parse(text)


def _diagnose(code: str) -> tuple[str, str]:
    """Say in both languages why ``code`` fits neither form (stable, test-visible wording)."""
    if not code:
        return "empty agency code", "mã định danh rỗng"
    if len(code) > QD20_MAX_LENGTH:
        return (
            f"agency code longer than {QD20_MAX_LENGTH} characters",
            f"mã định danh dài quá {QD20_MAX_LENGTH} ký tự",
        )
    if not _ALLOWED.fullmatch(code):
        return (
            "agency code contains characters other than A-Z, 0-9 and '.'",
            "mã định danh chứa ký tự ngoài A-Z, 0-9 và dấu chấm",
        )
    if code != code.upper():
        return (
            "agency code in lower case (looks like a system id, not an agency code)",
            "mã định danh viết thường (giống mã hệ thống, không phải mã cơ quan)",
        )
    groups = code.split(".")
    if "" in groups:
        return "agency code with an empty group", "mã định danh có nhóm rỗng"
    if re.fullmatch(r"[A-Z]\d{2}", groups[-1]):
        return (
            "level-1 group on the right but not in the QCVN 102 form VVV.ZZ.YY.LNN",
            "nhóm cấp 1 ở bên phải nhưng không đúng dạng QCVN 102 VVV.ZZ.YY.LNN",
        )
    return (
        "neither the QCVN 102 form VVV.ZZ.YY.LNN nor the QĐ 20 form (level-1 group first)",
        "không đúng dạng QCVN 102 VVV.ZZ.YY.LNN hay dạng QĐ 20 (nhóm cấp 1 đứng đầu)",
    )
