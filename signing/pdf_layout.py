"""Where a signature sits on the page and what it shows — Nghị định 30/2020, Appendix I.

Four presentations, one per :class:`SignatureRole`:

* ``person`` — the competent person's signature image (blue, transparent PNG) in a box the
  caller chooses, between the title and the name on the last page.
* ``agency`` — the agency's red seal image (transparent PNG, true size) covering about the left
  third of the person's signature, with the agency name and the signing time (ISO 8601, Vietnam
  time). The field box is the seal square plus a text column to its left; the seal's right edge
  falls one third of the way into the person's box.
* ``attachment`` — appendices and separate attachments: no image, top-right of page 1, the
  document's number/symbol and the signing time, Times New Roman 10 pt, black.
* ``copy`` — electronic copies (sao y, sao lục, trích sao): no image, top-right of page 1, the
  copy form, the copying agency and the signing time.

Coordinates are PDF user units (1/72 inch) with the origin at the page's bottom-left corner,
as in ISO 32000-1 §8.3.2.3. Text uses the standard Times-Roman font unless a TrueType font file
is configured: the standard fonts only encode Latin-1, so without a font file Vietnamese letters
outside Latin-1 are folded to their base letter (``Ủy`` → ``Uy``, ``đ`` → ``d``). A configured
font file (TrueType/OpenType, embedded as a subset; needs ``uharfbuzz``) keeps them. Hazard:
pyHanko 0.38 writes glyph widths in the font's own units, which PDF reads as thousandths of an
em — right only for fonts with ``unitsPerEm`` = 1000. :func:`font_for_pdf` therefore rescales
other fonts (Times New Roman, Liberation Serif and DejaVu use 2048) to 1000 units first;
without that their letters come out about twice too far apart.
"""

from __future__ import annotations

import enum
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.basic import SimpleFontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import TextStampStyle

from hub.errors import InvalidRequest

#: Vietnam time (Indochina Time, no daylight saving): signing times are shown in it.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")


class SignatureRole(enum.StrEnum):
    """Which Nghị định 30 signature is applied; decides the placement and the text."""

    PERSON = "person"
    AGENCY = "agency"
    ATTACHMENT = "attachment"
    COPY = "copy"


@dataclass(frozen=True)
class Box:
    """A rectangle in PDF user units, ``(x1, y1)`` bottom-left, ``(x2, y2)`` top-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise InvalidRequest(
                f"empty or inverted box {self.as_tuple()}",
                message_vi=f"Khung chữ ký không hợp lệ {self.as_tuple()}",
                code="pdf.box",
            )

    @classmethod
    def parse(cls, text: str) -> Box:
        """Read ``"x1,y1,x2,y2"`` (the CLI's ``--box``)."""
        try:
            x1, y1, x2, y2 = (float(p) for p in text.split(","))
        except ValueError as exc:
            raise InvalidRequest(
                f"box must be x1,y1,x2,y2, got {text!r}",
                message_vi=f"Khung phải có dạng x1,y1,x2,y2, nhận được {text!r}",
                code="pdf.box",
            ) from exc
        return cls(x1, y1, x2, y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def as_int_tuple(self) -> tuple[int, int, int, int]:
        return (round(self.x1), round(self.y1), round(self.x2), round(self.y2))


@dataclass(frozen=True)
class LayoutStyle:
    """Sizes, font and colours of the four presentations. Defaults follow Appendix I."""

    font_file: Path | None = None
    """TrueType/OpenType font to embed (subset); ``None`` uses the standard Times-Roman font."""

    font_size: int = 10
    """Text size in points (Appendix I: 10 pt for the attachment and copy signatures)."""

    agency_font_size: int = 8
    """Text size beside the seal, smaller so that the name fits the column."""

    seal_size: float = 113.0
    """Seal diameter in points: 40 mm, the usual size of an agency seal."""

    agency_text_width: float = 150.0
    """Width of the text column left of the seal."""

    corner_size: tuple[float, float] = (190.0, 48.0)
    """Width and height of the top-right box of the attachment and copy signatures."""

    corner_margin: float = 28.0
    """Distance of that box from the top and right page edges (about 1 cm)."""


DEFAULT_LAYOUT_STYLE = LayoutStyle()


#: Serif fonts with Vietnamese letters, best first: Times New Roman, its metric clone, DejaVu.
SERIF_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/msttcorefonts/Times_New_Roman.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
)


def find_serif_font(candidates: tuple[Path, ...] = SERIF_FONT_CANDIDATES) -> Path | None:
    """The first installed font of ``candidates``, or ``None`` (also when ``uharfbuzz``, which
    embedding needs, is missing)."""
    import importlib.util

    if importlib.util.find_spec("uharfbuzz") is None:
        return None
    return next((p for p in candidates if p.is_file()), None)


def font_for_pdf(font_file: Path, workdir: Path) -> Path:
    """``font_file`` itself when its ``unitsPerEm`` is 1000, else a copy rescaled to 1000 units
    written into ``workdir`` (see the module docstring for why)."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
    from fontTools.ttLib.scaleUpem import scale_upem  # type: ignore[import-untyped]

    try:
        font = TTFont(str(font_file))
        upem = font["head"].unitsPerEm
    except Exception as exc:  # fontTools raises many types for a broken file
        raise InvalidRequest(
            f"{font_file} is not a usable TrueType/OpenType font",
            message_vi=f"{font_file} không phải phông TrueType/OpenType dùng được",
            code="pdf.font",
        ) from exc
    if upem == 1000:
        return font_file
    scale_upem(font, 1000)
    out = workdir / f"{font_file.stem}-1000upem{font_file.suffix or '.ttf'}"
    font.save(str(out))
    return out


def vietnam_time(moment: datetime) -> str:
    """``moment`` as ISO 8601 in Vietnam time, e.g. ``2026-11-21T12:39:13+07:00``."""
    return moment.astimezone(VIETNAM_TZ).isoformat(timespec="seconds")


def fold_to_latin1(text: str) -> str:
    """Text drawable with a standard font: Latin-1 letters kept, others reduced to their base."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 256:
            out.append(ch)
            continue
        if ch in "đĐ":
            out.append("d" if ch == "đ" else "D")
            continue
        base = unicodedata.normalize("NFD", ch)[0]
        # ``ầ`` decomposes to ``a`` + marks; keep ``â`` when the circumflex alone is in Latin-1.
        partial = unicodedata.normalize("NFC", unicodedata.normalize("NFD", ch)[:2])
        out.append(partial if len(partial) == 1 and ord(partial) < 256 else base)
    return "".join(out)


def signature_text(
    role: SignatureRole,
    *,
    signing_time: datetime,
    agency_name: str | None = None,
    number: str | None = None,
    copy_form: str | None = None,
    extra: str | None = None,
) -> str:
    """The text lines of a signature appearance (empty for the person's image-only signature)."""
    when = vietnam_time(signing_time)
    lines: list[str] = []
    if role is SignatureRole.AGENCY:
        lines += [agency_name or "", when]
    elif role is SignatureRole.ATTACHMENT:
        if agency_name:
            lines.append(agency_name)
        lines += [f"Số/Ký hiệu: {number}" if number else "", f"Thời gian ký: {when}"]
    elif role is SignatureRole.COPY:
        lines += [copy_form or "SAO Y", agency_name or "", f"Thời gian ký: {when}"]
    if extra:
        lines.append(extra)
    return "\n".join(line for line in lines if line)


def corner_box(page_box: Box, style: LayoutStyle = DEFAULT_LAYOUT_STYLE) -> Box:
    """The top-right box of page ``page_box`` for attachment and copy signatures."""
    w, h = style.corner_size
    m = style.corner_margin
    return Box(page_box.x2 - m - w, page_box.y2 - m - h, page_box.x2 - m, page_box.y2 - m)


def seal_box(person_box: Box, style: LayoutStyle = DEFAULT_LAYOUT_STYLE) -> Box:
    """The agency field over ``person_box``: seal square ending a third into it, text on its left.

    Appendix I: the seal covers about one third of the person's signature, on the left.
    """
    seal_right = person_box.x1 + person_box.width / 3
    mid_y = (person_box.y1 + person_box.y2) / 2
    s = style.seal_size
    return Box(seal_right - s - style.agency_text_width, mid_y - s / 2, seal_right, mid_y + s / 2)


def _text_style(style: LayoutStyle, size: int) -> TextBoxStyle:
    if style.font_file is not None:
        # fontTools reports every table it leaves out of the subset; not our reader's concern.
        logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
        font = GlyphAccumulatorFactory(str(style.font_file), font_size=size)
        return TextBoxStyle(font=font, font_size=size, text_color=(0.0, 0.0, 0.0))
    # Times-Roman is one of the 14 standard fonts (ISO 32000-1 §9.6.2.2): the stand-in for
    # Times New Roman that every reader has. Average glyph width ≈ 0.45 em.
    font_factory = SimpleFontEngineFactory("Times-Roman", 0.45)
    return TextBoxStyle(font=font_factory, font_size=size, text_color=(0.0, 0.0, 0.0))


def _image(png: bytes) -> PdfImage:
    from PIL import Image

    try:
        img = Image.open(BytesIO(png))
        img.load()
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            "the signature image is not a readable PNG",
            message_vi="Ảnh chữ ký không phải tệp PNG đọc được",
            code="pdf.image",
        ) from exc
    return PdfImage(img)


def stamp_style(
    role: SignatureRole,
    *,
    image: bytes | None = None,
    style: LayoutStyle = DEFAULT_LAYOUT_STYLE,
) -> TextStampStyle:
    """The pyHanko stamp style of one signature; its text comes as the ``text`` parameter."""
    if role is SignatureRole.PERSON:
        return TextStampStyle(
            stamp_text="%(text)s",
            text_box_style=_text_style(style, style.font_size),
            border_width=0,
            background=_image(image) if image else None,
            background_opacity=1.0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID,
            ),
            inner_content_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MIN,
            ),
        )
    if role is SignatureRole.AGENCY:
        return TextStampStyle(
            stamp_text="%(text)s",
            text_box_style=_text_style(style, style.agency_font_size),
            border_width=0,
            background=_image(image) if image else None,
            background_opacity=1.0,
            # the seal sits at the right end of the field, over the person's signature
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MAX,
                y_align=layout.AxisAlignment.ALIGN_MID,
            ),
            inner_content_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MIN,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins(right=round(style.seal_size)),
            ),
        )
    return TextStampStyle(
        stamp_text="%(text)s",
        text_box_style=_text_style(style, style.font_size),
        border_width=0,
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins(2, 2, 2, 2),
            inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
        ),
    )


def drawable(text: str, style: LayoutStyle = DEFAULT_LAYOUT_STYLE) -> str:
    """``text`` as the configured font can draw it (folded when only standard fonts are used)."""
    return text if style.font_file is not None else fold_to_latin1(text)
