"""A PDF of one or more documents (statements, reminder letters) on the statements' letterhead:
page templates, "Page x of y" counted per document, the document's metadata.

Why shared: a statement and a reminder are laid out on the same pages (first page with the
letterhead and the window, later pages with a running header, the footer on each), and a combined
print PDF holds many statements that each number their own pages. The documents bring only what
is their own: the story, the `Facts` beside the first page's window, the running header's title.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from o2c_desktop import __version__
from o2c_desktop.services.statements.layout import (
    FIRST_FRAME_TOP,
    FOOTER_TOP,
    LATER_FRAME_TOP,
    LEFT,
    MUTED,
    RIGHT,
    Page,
)
from o2c_desktop.services.statements.page_furniture import (
    Facts,
    draw_first_page,
    draw_footer,
    draw_running_header,
)
from o2c_desktop.services.statements.pdf_assets import REGULAR, start_document


@dataclass(frozen=True)
class RenderedStatement:
    """A PDF (a statement or a reminder letter) and how many pages it has."""

    pdf: bytes
    pages: int


FactsOf = Callable[[Page], Facts]  # what a document says beside the window on its first page


@dataclass
class Run:
    """Which document the pages being laid out belong to (a combined PDF holds many), and the
    owner of every page begun so far, for "Page x of y" per document."""

    pages: Sequence[Page]
    current: int = 0
    owners: list[int] | None = None

    def begin_page(self) -> Page:
        if self.owners is None:
            self.owners = []
        self.owners.append(self.current)
        return self.pages[self.current]


class NumberedCanvas(Canvas):
    """Holds the pages back until the end, so each can say "Page x of y" (x and y counted
    within its own document, in a combined PDF too)."""

    def __init__(self, *args: Any, run: Run, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._held: list[dict[str, Any]] = []
        self._run = run

    def showPage(self) -> None:
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        owners = self._run.owners or []
        totals: dict[int, int] = {}
        for owner in owners:
            totals[owner] = totals.get(owner, 0) + 1
        seen: dict[int, int] = {}
        for index, state in enumerate(self._held):
            self.__dict__.update(state)
            owner = owners[index] if index < len(owners) else 0
            seen[owner] = seen.get(owner, 0) + 1
            width = self._run.pages[owner].width
            self.setFillColor(MUTED)
            self.setFont(REGULAR, 7.5)
            self.drawRightString(
                width - RIGHT, 10 * mm, f"Page {seen[owner]} of {totals.get(owner, 1)}"
            )
            super().showPage()
        super().save()


def size_name(size: tuple[float, float]) -> str:
    """The paper size's part of the page templates' names: "first-a4", "later-letter"."""
    return "letter" if size == LETTER else "a4"


def _first_page(canvas: Canvas, _doc: Any, *, run: Run, facts: FactsOf) -> None:
    if not run.owners:
        start_document(canvas)
    page = run.begin_page()
    draw_first_page(canvas, page, facts(page))
    draw_footer(canvas, page)


def _later_page(canvas: Canvas, _doc: Any, *, run: Run, title: str) -> None:
    page = run.begin_page()
    draw_running_header(canvas, page, title)
    draw_footer(canvas, page)


def page_templates(run: Run, facts: FactsOf, running_title: str) -> list[PageTemplate]:
    """A first-page and a later-page template per paper size in use: the first page's frame
    starts below the window and the facts, a later page's below the running header."""
    templates = []
    for size in dict.fromkeys(page.size for page in run.pages):
        width, height = size
        name = size_name(size)
        frames = [
            Frame(
                LEFT,
                FOOTER_TOP,
                width - LEFT - RIGHT,
                height - top - FOOTER_TOP,
                leftPadding=0,
                rightPadding=0,
                topPadding=0,
                bottomPadding=0,
                id=f"{kind}-{name}",
            )
            for kind, top in (("first", FIRST_FRAME_TOP), ("later", LATER_FRAME_TOP))
        ]
        templates += [
            PageTemplate(
                f"first-{name}",
                [frames[0]],
                onPage=partial(_first_page, run=run, facts=facts),
                autoNextPageTemplate=f"later-{name}",
                pagesize=size,
            ),
            PageTemplate(
                f"later-{name}",
                [frames[1]],
                onPage=partial(_later_page, run=run, title=running_title),
                pagesize=size,
            ),
        ]
    return templates


def build_pdf(
    target: Any,
    run: Run,
    story: list[Flowable],
    *,
    facts: FactsOf,
    running_title: str,
    title: str,
    subject: str,
    keywords: list[str],
) -> int:
    """Lay `story` out into `target` (a path or a binary stream) on `run`'s pages, with the
    document's metadata; returns the page count. The fonts must be registered already
    (pdf_assets.register_fonts): the story's text was measured with them."""
    first = run.pages[0]
    doc = BaseDocTemplate(
        target,
        pagesize=first.size,
        pageTemplates=page_templates(run, facts, running_title),
        title=title,
        author=first.letterhead.company_name,
        subject=subject,
        keywords=keywords,
        creator=f"O2C Desktop {__version__}",
        initialFontName=REGULAR,
        pageCompression=1,
        lang="en",
    )
    doc.build(story, canvasmaker=partial(NumberedCanvas, run=run))
    return doc.page


__all__ = [
    "FactsOf",
    "NumberedCanvas",
    "RenderedStatement",
    "Run",
    "build_pdf",
    "page_templates",
    "size_name",
]
