"""Fonts and the logo for statement PDFs, prepared once per process.

Why this module exists: a one-page statement must render in a few milliseconds (a month-end batch
is thousands of them), and ReportLab, left to itself, spends most of that on work that is the
same for every statement:
- TrueType subsetting. Each PDF embeds the glyphs it uses (DejaVu Sans, so "Zürich Ödön Łukasz"
  prints the same everywhere), and ReportLab builds that subset anew for every document, in the
  order the characters first appear. We give every document the same start (ASCII plus the
  letters and signs statements commonly need, in a fixed order), so nearly every statement asks
  for the same subset, and keep the subsets already built (keyed by their exact character list,
  so a statement with an unusual letter still gets a correct subset, built once).
- Images. ReportLab decodes, hashes and recompresses a PNG for every document (about 14 ms for
  the logo). The logo is instead flattened onto white once, kept as a JPEG, and drawn by file
  name, which ReportLab embeds as it is.
- Compressing those subsets: the same subset would be deflated again for every document; the
  deflated bytes are kept beside the subset and handed to ReportLab's Flate filter when it
  meets exactly that subset (by identity: any other stream is compressed as usual).
- The font objects around a subset (its width table, its ToUnicode map) are the same for the
  same subset, so `StatementFont` writes them once and hands the finished bytes to every later
  document (ReportLab formats some 450 numbers per document for them otherwise).
- ASCII85. Streams are written as binary (rl_config.useA85 = 0), which is smaller and faster;
  every PDF reader accepts it.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, TTFont, makeToUnicodeCMap

from o2c_desktop.errors import O2CError
from o2c_desktop.paths import resource

REGULAR = "O2CSans"
BOLD = "O2CSans-Bold"
FONT_FILES = {REGULAR: "fonts/DejaVuSans.ttf", BOLD: "fonts/DejaVuSans-Bold.ttf"}
LOGO_MAX_PIXELS = 600  # longest side: 300 dpi at 50 mm, more than a letterhead logo needs
_SUBSETS_KEPT = 256

# Characters every statement's font subset starts with, in this order: what Western and Central
# European names, addresses and babel's number formats use (grouping spaces, minus signs).
COMMON_CHARACTERS = (
    "\u00a0\u202f\u2212–—…·•€£¥’‘“”«»°§"
    "äöüÄÖÜßéèêëÉÈàâáÀÁçÇñÑíìîïÍóòôõÓøØåÅæÆúùûÚýÿ"
    "łŁśŚźŹżŻćĆńŃąĄęĘőŐűŰčČšŠžŽřŘěĚůŮďťňĺľŕ"
)

rl_config.useA85 = 0


_deflated: dict[int, tuple[bytes, bytes]] = {}  # id(subset bytes) -> (those bytes, deflated)


def _flate_with_kept_subsets(encode: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def flate(text: Any) -> bytes:
        kept = _deflated.get(id(text))
        if kept is not None and kept[0] is text:
            return kept[1]
        return encode(text)

    return flate


def _memoise_subsets(font: TTFont) -> None:
    """Keep the subsets `font` builds, and their deflated form, keyed by their character list
    (an LRU of a few hundred per font)."""
    face = font.face
    build: Callable[[list[int]], bytes] = face.makeSubset
    kept: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def make_subset(subset: list[int]) -> bytes:
        key = tuple(subset)
        data = kept.get(key)
        if data is None:
            data = build(subset)
            kept[key] = data
            _deflated[id(data)] = (data, zlib.compress(data))
            if len(kept) > _SUBSETS_KEPT:
                _key, dropped = kept.popitem(last=False)
                _deflated.pop(id(dropped), None)
        else:
            kept.move_to_end(key)
        return data

    face.makeSubset = make_subset


class StatementFont(TTFont):
    """A TrueType font whose per-subset PDF objects are made once per process.

    `addObjects` follows ReportLab's TTFont.addObjects (ReportLab 4) step by step; only the
    width table and the ToUnicode map come from a cache keyed by the subset."""

    def __init__(self, name: str, filename: str):
        super().__init__(name, filename)
        self._widths: dict[tuple[int, ...], bytes] = {}
        self._maps: dict[tuple[str, tuple[int, ...]], bytes] = {}

    def _widths_of(self, key: tuple[int, ...], doc: Any) -> bytes:
        widths = self._widths.get(key)
        if widths is None:
            array = pdfdoc.PDFArray([self.face.getCharWidth(code) for code in key])
            widths = self._widths[key] = array.format(doc)
        return widths

    def _map_of(self, base_name: str, key: tuple[int, ...]) -> bytes:
        found = self._maps.get((base_name, key))
        if found is None:
            text = makeToUnicodeCMap(base_name, list(key)).encode("latin-1")
            found = self._maps[(base_name, key)] = zlib.compress(text)
        return found

    def addObjects(self, doc: Any) -> None:
        if not doc.compression:
            super().addObjects(doc)
            return
        state = self._assignState(doc)
        state.frozen = 1
        for n, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(n, doc)[1:]
            base_name = b"".join((SUBSETN(n), b"+", self.face.name, self.face.subfontNameX)).decode(
                "pdfdoc"
            )
            key = tuple(subset)
            font = pdfdoc.PDFTrueTypeFont()
            font.__Comment__ = f"Font {self.fontName} subset {n}"
            font.Name = internal_name
            font.BaseFont = base_name
            font.FirstChar = 0
            font.LastChar = len(subset) - 1
            font.Widths = self._widths_of(key, doc)
            to_unicode = pdfdoc.PDFStream(content=self._map_of(base_name, key))
            to_unicode.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
            font.ToUnicode = doc.Reference(to_unicode, "toUnicodeCMap:" + base_name)
            font.FontDescriptor = self.face.addSubsetObjects(doc, base_name, subset)
            doc.Reference(font, internal_name)
            doc.idToObject["BasicFonts"].dict[internal_name] = font
        del self.state[doc]


@cache
def register_fonts() -> tuple[str, str]:
    """Register the embedded statement fonts with ReportLab (once per process)."""
    for name, relative in FONT_FILES.items():
        path = resource(relative)
        if not path.is_file():
            raise O2CError(f"O2C Desktop is installed without its statement font {path.name}.")
        font = StatementFont(name, str(path))
        _memoise_subsets(font)
        pdfmetrics.registerFont(font)
    flate = pdfdoc.PDFZCompress
    flate.encode = _flate_with_kept_subsets(flate.encode)
    pdfmetrics.registerFontFamily(
        REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD
    )
    return REGULAR, BOLD


def start_document(canvas: Any) -> None:
    """Give a new document's fonts the same first characters, so its subsets are the cached
    ones (see the module docstring). Call once, before anything is drawn."""
    doc = canvas._doc
    for name in (REGULAR, BOLD):
        font = pdfmetrics.getFont(name)
        split = getattr(font, "splitString", None)
        if split is not None:
            split(COMMON_CHARACTERS, doc)


@cache
def _logo_jpeg(path: str, stamp: tuple[int, int]) -> tuple[bytes, int, int]:
    """The logo flattened onto white as JPEG data (cached per file and modification)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            picture = image.convert("RGBA")
    except (OSError, UnidentifiedImageError) as exc:
        raise O2CError(
            f"The letterhead logo {path} cannot be read ({exc}); choose another one under "
            "Settings → Letterhead."
        ) from None
    picture.thumbnail((LOGO_MAX_PIXELS, LOGO_MAX_PIXELS))
    flat = Image.new("RGB", picture.size, (255, 255, 255))
    flat.paste(picture, mask=picture.split()[3])
    buffer = io.BytesIO()
    flat.save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue(), flat.width, flat.height


def logo_image(path: Path) -> tuple[str, int, int]:
    """(JPEG file to draw, width, height in pixels) for a letterhead logo. The JPEG sits in the
    temporary folder under a name derived from its content; it is written again if a clean-up
    removed it."""
    try:
        info = path.stat()
    except OSError:
        raise O2CError(
            f"The letterhead logo {path} is missing; choose another one under "
            "Settings → Letterhead."
        ) from None
    data, width, height = _logo_jpeg(str(path), (info.st_mtime_ns, info.st_size))
    digest = hashlib.sha256(data).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"o2c-desktop-logo-{digest}.jpg"
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
    return str(target), width, height
