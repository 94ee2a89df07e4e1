"""The plan report as a PDF: the content from `osteoplan.core.report` and its images (rendered by
`report_export`), laid out with Qt's rich text (QTextDocument) on A4 pages (QPdfWriter) with a
header, a footer (page numbers, de-identification status) on each page.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (QAbstractTextDocumentLayout, QColor, QFont, QImage, QPageLayout, QPageSize, QPainter,
                           QPdfWriter, QPen, QTextDocument, QTextOption)

from osteoplan.core.atomic import atomic_write_with, verify_written
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.report.content import Figure, KeyValues, Paragraph, ReportContent, Section, Table

TEXT_WIDTH_PX = 680  # CSS pixels (1/96 in) across the text of an A4 page with 15 mm margins
MAX_IMAGE_HEIGHT_PX = 410  # two figures and their captions fit on one page
NAVY, GREY, RULE = "#1f3b5a", "#5f6b7a", "#c9d1db"
TONES = {  # text colour, row tint, badge colour
    "stop": ("#b71c1c", "#fdecea", "#c62828"),
    "warn": ("#7a4f00", "#fff5dc", "#e69500"),
    "info": ("#174a7e", "#eef4fb", "#1e6bb8"),
    "ok": ("#1b5e20", "#edf7ee", "#2e7d32"),
}
MARGINS_MM = QMarginsF(15, 22, 15, 18)  # left, top (header), right, bottom (footer)


class ReportError(OsteoPlanError):
    pass


# --- HTML ---------------------------------------------------------------------------------
def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


BADGE_COLUMNS = {"Severity": {}, "Worst": {"none": "ok"}, "Status": {"verified": "ok", "illustrative": "info"}}


def _badge(text: str, tone: str) -> str:
    colour = TONES.get(tone, (GREY, "", GREY))[2]
    return (f'<span style="background-color:{colour}; color:white; font-weight:bold; font-size:7pt">'
            f"&nbsp;{_e(text)}&nbsp;</span>")


def _cell_text(column: str, value: str) -> str:
    """Severity-like columns as coloured badges, the rest as text."""
    if column in BADGE_COLUMNS:
        tone = BADGE_COLUMNS[column].get(value.lower(), value.lower())
        if tone in TONES:
            # the trailing normal-size space gives the badge's line the row's line height, so that a row at a
            # page's foot moves to the next page whole instead of leaving its badge behind
            return _badge(value.upper() if column == "Severity" else value, tone) + "&nbsp;"
    return _e(value)


def _key_values(block: KeyValues) -> str:
    rows = []
    for key, value in block.rows:
        tone = block.tones.get(key, "")
        style = f' style="color:{TONES[tone][0]}; font-weight:bold"' if tone in TONES else ""
        rows.append(f'<tr><td width="26%" style="color:{GREY}">{_e(key)}</td><td{style}>{_e(value)}</td></tr>')
    return ('<table width="100%" cellspacing="0" cellpadding="2" style="margin-bottom:6px">'
            + "".join(rows) + "</table>")


def _table(block: Table) -> str:
    align = block.align or "l" * len(block.header)
    widths = block.widths or ()

    def cell(text: str, column: int, tag: str, extra: str = "") -> str:
        side = "right" if align[column] == "r" else "left"
        width = f' width="{widths[column]}%"' if column < len(widths) else ""
        return f'<{tag} align="{side}"{width}{extra}>{text}</{tag}>'

    head = "".join(cell(_e(h), n, "th", f' style="background-color:{NAVY}; color:white"')
                   for n, h in enumerate(block.header))
    body = []
    for index, row in enumerate(block.rows):
        tone = block.row_tones[index] if index < len(block.row_tones) else ""
        tint = TONES[tone][1] if tone in ("stop", "warn") else ("#f4f6f9" if index % 2 else "#ffffff")
        cells = [cell(_cell_text(block.header[n], value), n, "td") for n, value in enumerate(row)]
        body.append(f'<tr style="background-color:{tint}">' + "".join(cells) + "</tr>")
    caption = (f'<p style="color:{NAVY}; font-weight:bold; margin-top:6px; margin-bottom:2px">{_e(block.caption)}</p>'
               if block.caption else "")
    return (caption + f'<table width="100%" cellspacing="0" cellpadding="3" border="0.5" '
            f'style="border-collapse:collapse; border-color:{RULE}; margin-bottom:8px">'
            f"<thead><tr>{head}</tr></thead>" + "".join(body) + "</table>")


def _figure(block: Figure, numbers: dict[str, int], images: dict[str, QImage]) -> str:
    width = TEXT_WIDTH_PX * block.width_percent // 100 // len(block.images) - (8 if len(block.images) > 1 else 0)
    cells = []
    for request in block.images:
        image = images.get(request.key)
        if image is None:
            picture = f'<p style="color:{GREY}">(image not rendered)</p>'
        else:
            aspect = image.height() / max(image.width(), 1)
            shown = min(width, int(MAX_IMAGE_HEIGHT_PX / aspect))
            picture = (f'<img src="report://{_e(request.key)}" width="{shown}" '
                       f'height="{int(round(shown * aspect))}">')
        cells.append(f'<td align="center" valign="top" width="{100 // len(block.images)}%">{picture}'
                     f'<p style="font-size:7.5pt; color:{GREY}; margin-top:3px"><b>Figure {numbers[request.key]}.</b> '
                     f"{_e(request.caption)}</p></td>")
    return ('<table width="100%" cellspacing="0" cellpadding="2" style="margin-top:4px; margin-bottom:8px"><tr>'
            + "".join(cells) + "</tr></table>")


def _section(section: Section, numbers: dict[str, int], images: dict[str, QImage]) -> str:
    brk = "page-break-before:always; " if section.new_page else ""
    if section.level == 1:
        heading = (f'<h1 style="{brk}color:{NAVY}; font-size:14pt; margin-top:10px; margin-bottom:4px">'
                   f"{_e(section.title)}</h1><hr>")
    else:
        heading = (f'<h2 style="{brk}color:{NAVY}; font-size:12pt; margin-top:8px; margin-bottom:4px">'
                   f"{_e(section.title)}</h2>")
    parts = [heading]
    for block in section.blocks:
        if isinstance(block, Paragraph):
            style = f"color:{TONES[block.tone][0]}; " if block.tone in TONES else ""
            weight = "" if block.tone in ("", "info") else "font-weight:bold; "
            parts.append(f'<p style="{style}{weight}margin-top:4px; margin-bottom:4px">{_e(block.text)}</p>')
        elif isinstance(block, KeyValues):
            parts.append(_key_values(block))
        elif isinstance(block, Table):
            parts.append(_table(block))
        else:
            parts.append(_figure(block, numbers, images))
    return "".join(parts)


def report_html(content: ReportContent, images: dict[str, QImage]) -> str:
    numbers = {request.key: n for n, request in enumerate(content.images, start=1)}
    tone = content.verdict.tone or "info"
    identity = ("IDENTIFIED: this report contains the patient's identity" if content.identified
                else "De-identified: no patient name, ID, dates or file paths")
    title = (f'<p style="font-size:20pt; font-weight:bold; color:{NAVY}; margin-bottom:0px">{_e(content.title)}</p>'
             f'<p style="font-size:11pt; color:{GREY}; margin-top:2px">{_e(content.case_title)} · generated '
             f"{_e(content.generated_at)} · OsteoPlan {_e(content.version)}</p>"
             f'<p style="font-size:8pt; color:{TONES["stop" if content.identified else "info"][0]}">{_e(identity)}</p>'
             f'<table width="100%" cellspacing="0" cellpadding="6" style="margin-top:4px; margin-bottom:6px">'
             f'<tr><td style="background-color:{TONES[tone][1]}; color:{TONES[tone][0]}; font-weight:bold; '
             f'border-left:4px solid {TONES[tone][2]}">{_e(content.verdict.text)}</td></tr></table>')
    return ("<html><body>" + title + "".join(_section(s, numbers, images) for s in content.sections)
            + "</body></html>")


# --- PDF ----------------------------------------------------------------------------------
def write_report_pdf(content: ReportContent, images: dict[str, QImage], out_path: str | Path) -> Path:
    """Lay the report out on A4 pages and write the PDF: atomically, and verified before it replaces an old
    report (Qt's PDF writer does not report a full disk)."""
    out_path = Path(out_path)
    try:
        atomic_write_with(out_path, lambda temporary: _write_pdf(content, images, temporary, out_path), ".pdf",
                          verify=lambda temporary: verify_written(temporary, b"%PDF", b"%%EOF"))
    except ReportError:
        raise
    except OSError as exc:
        raise ReportError(f"cannot write {out_path}: {exc.strerror or exc}; the previous file (if any) is "
                          "unchanged; free some space or choose another --out") from None
    return out_path


def _write_pdf(content: ReportContent, images: dict[str, QImage], temporary: str, out_path: Path) -> None:
    writer = QPdfWriter(str(temporary))
    writer.setResolution(300)
    writer.setTitle(f"{content.title}: {content.case_title}")
    writer.setCreator(f"OsteoPlan {content.version}")
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     MARGINS_MM, QPageLayout.Unit.Millimeter))
    document = QTextDocument()
    document.documentLayout().setPaintDevice(writer)
    document.setDefaultFont(_font(8.5))
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)  # long hashes and ids never overflow
    document.setDefaultTextOption(option)
    document.setDocumentMargin(0)
    for key, image in images.items():
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"report://{key}"), image)
    document.setHtml(report_html(content, images))
    body = writer.pageLayout().paintRectPixels(writer.resolution())
    document.setPageSize(QSizeF(body.width(), body.height()))
    pages = document.pageCount()
    painter = QPainter()
    if not painter.begin(writer):
        raise ReportError(f"cannot write {out_path}: the file cannot be created there; choose another --out")
    try:
        for page in range(pages):
            if page:
                writer.newPage()
            _draw_page(painter, document, page, pages, QRectF(0, 0, body.width(), body.height()), content,
                       writer.resolution())
    finally:
        painter.end()
    del writer  # closes the file


def _draw_page(painter: QPainter, document: QTextDocument, page: int, pages: int, body: QRectF,
               content: ReportContent, dpi: int) -> None:
    mm = dpi / 25.4
    painter.save()
    painter.translate(0, -page * body.height())
    context = QAbstractTextDocumentLayout.PaintContext()
    context.clip = QRectF(0, page * body.height(), body.width(), body.height())
    painter.setClipRect(context.clip)
    document.documentLayout().draw(painter, context)
    painter.restore()
    # header and footer, in the margins (the painter's origin is the body's top left)
    painter.setFont(_font(7))
    painter.setPen(QColor(GREY))
    header = QRectF(0, -12 * mm, body.width(), 6 * mm)
    painter.drawText(header, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                     _elide(painter, f"OsteoPlan · {content.title} · {content.case_title}", body.width() * 0.6))
    painter.drawText(header, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                     f"Generated {content.generated_at} · OsteoPlan {content.version}")
    painter.setPen(QPen(QColor(RULE), 0.3 * mm))
    painter.drawLine(0, int(-5 * mm), int(body.width()), int(-5 * mm))
    footer_y = body.height() + 5 * mm
    painter.drawLine(0, int(footer_y - 1.5 * mm), int(body.width()), int(footer_y - 1.5 * mm))
    footer = QRectF(0, footer_y, body.width(), 6 * mm)
    identity = "IDENTIFIED: contains patient identity" if content.identified else "De-identified"
    painter.setPen(QColor(TONES["stop"][0] if content.identified else GREY))
    painter.drawText(footer, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, identity)
    painter.setPen(QColor(GREY))
    painter.drawText(footer, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                     "Planning aid: verify against the images and devices")
    painter.drawText(footer, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, f"Page {page + 1} of {pages}")


def _font(points: float) -> QFont:
    font = QFont("DejaVu Sans")
    font.setPointSizeF(points)
    for ligature in ("liga", "clig"):  # "fi" stays two letters: the PDF's text searches and copies as typed
        font.setFeature(QFont.Tag(ligature), 0)
    return font


def _elide(painter: QPainter, text: str, width: float) -> str:
    return painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, int(width))


# --- the whole export -----------------------------------------------------------------------
def check_output_path(out_path: str | Path) -> Path:
    """Fail early (before minutes of work) when the PDF cannot be written there."""
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".pdf":
        raise ReportError(f"--out {out_path}: the report is a PDF; give a file name ending in .pdf")
    if out_path.is_dir():
        raise ReportError(f"--out {out_path} is a folder; give a file name ending in .pdf")
    folder = out_path.parent if str(out_path.parent) else Path(".")
    if not folder.is_dir():
        raise ReportError(f"--out {out_path}: the folder {folder} does not exist; create it or choose another")
    if not os.access(folder, os.W_OK) or (out_path.exists() and not os.access(out_path, os.W_OK)):
        raise ReportError(f"--out {out_path}: cannot write there (permission denied); choose another folder")
    return out_path


PROGRESS_PREFIX = "progress "  # `--progress` lines on stdout: "progress 0.42 message" (read by the GUI)
