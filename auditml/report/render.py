"""Turn a `ReportData` into HTML (pure) and into a PDF/A-3b with evidence.json attached.

`render_html` is a pure function of the report data: Jinja2 with autoescaping and
`StrictUndefined` over the templates shipped as `auditml.report_templates`, plus two
pictures generated here (the QR code of the checkpoint note and the lineage diagram).

`render_pdf` runs WeasyPrint in a child process (`python -m auditml.report.render`) that
limits its own address space before WeasyPrint is imported, so a hostile or huge report
cannot take the caller down with it: running out of memory, a crash or a timeout in the
child becomes one `AuditmlError` with a message and no traceback, and no partial PDF is
left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditml.errors import AuditmlError
from auditml.policy.wording import listing
from auditml.report import wording
from auditml.report.model import Lineage, LineageNode, ReportData

__all__ = ["RenderResult", "render_html", "render_pdf"]

#: Name of the attachment the verifier looks for.
EVIDENCE_NAME = "evidence.json"

_TEMPLATE = "report.html.j2"
_CHILD_EXIT_FAILED = 3
_CHILD_EXIT_NO_MEMORY = 4


@dataclass(frozen=True)
class RenderResult:
    """What `render_pdf` wrote: page count, file size in bytes and the file's SHA-256 (hex)."""

    pages: int
    bytes: int
    sha256: str


# ---------------------------------------------------------------------------------------------
# HTML (pure)


def render_html(report: ReportData) -> str:
    """Return the report as a complete HTML document (CSS inlined, pictures as inline SVG).

    Pure: reads only the shipped templates. Every value from `report` is escaped; the only
    markup not written by the templates is the two SVG pictures built here from escaped text.
    Raises `jinja2.UndefinedError` when `report` lacks a field the templates use.
    """
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("auditml.report_templates", "."),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "j2", "html.j2"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        {
            "when": wording.when,
            "day": wording.day,
            "event": wording.event_label,
            "words": wording.words,
            "recipient": wording.recipient,
            "request_kind": wording.request_kind,
            "thing": wording.thing,
            "algorithm": wording.algorithm,
            "hex": wording.grouped_hex,
            "refs": wording.references,
        }
    )
    template = environment.get_template(_TEMPLATE)
    return template.render(
        report=report,
        period=wording.period_of_report(
            report["period_from"], report["period_to"], report["as_of"]
        ),
        lineage_rows=_lineage_rows(report["lineage"]),
        keywords=pdf_keywords(report),
        # Both pictures are built here from escaped text (segno escapes nothing: a QR code
        # is only paths), so marking them safe lets no user markup through.
        qr_svg=Markup(_qr_svg(report["checkpoint"]["note"])),  # noqa: S704
        lineage_svg=Markup(_lineage_svg(report["lineage"])),  # noqa: S704
        verdict_label=_VERDICT_LABELS,
    )


def pdf_keywords(report: ReportData) -> str:
    """Return the PDF keywords string the verifier parses for the tree size and root."""
    checkpoint = report["checkpoint"]
    return (
        f"auditml report {report['report_id']}; tree size {checkpoint['size']}; "
        f"root {checkpoint['root_hex']}"
    )


_VERDICT_LABELS = {
    "fail": "FAIL",
    "pending": "PENDING",
    "pass": "PASS",
    "not_applicable": "N/A",
    "needs_human": "NEEDS HUMAN",
}


def _qr_svg(note: str) -> str:
    """Return the checkpoint note as a QR code in inline SVG (no XML declaration)."""
    import segno

    code = segno.make(note, error="m", micro=False)
    svg: str = code.svg_inline(scale=2, border=2, dark="#000", light="#fff", omitsize=False)
    return svg


def _lineage_rows(lineage: Lineage) -> list[dict[str, str]]:
    """The lineage table: each node's kind, label and what it comes from, in words."""
    labels = {node["id"]: node["label"] for node in lineage["nodes"]}
    sources: dict[str, list[str]] = {}
    for edge in lineage["edges"]:
        if edge["source"] in labels:
            sources.setdefault(edge["target"], []).append(labels[edge["source"]])
    verbs = {"dataset": "derived from", "model": "trained on", "deployment": "runs"}
    rows = []
    for node in lineage["nodes"]:
        found = sources.get(node["id"], [])
        rows.append(
            {
                "kind": node["kind"],
                "label": node["label"],
                "from": f"{verbs.get(node['kind'], 'from')} {listing(found)}" if found else "",
            }
        )
    return rows


#: Room left of the first column for the brackets of same-column edges (derived datasets).
_MARGIN = 14
_BOX_W = 170
_BOX_H = 26
_COL_GAP = 70
_ROW_GAP = 10
_LABEL_CHARS = 26
_KINDS = ("dataset", "model", "deployment")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _lineage_svg(lineage: Lineage) -> str:
    """Draw lineage as columns (datasets, models, deployments) of boxes joined by arrows.

    Labels are escaped and shortened to fit a box; the full labels are printed in a table
    under the picture. Edges to nodes that are not in the (cut) node list are skipped.
    """
    from markupsafe import escape

    columns: dict[str, list[LineageNode]] = {kind: [] for kind in _KINDS}
    for node in lineage["nodes"]:
        columns.setdefault(node["kind"], []).append(node)
    rows = max([len(nodes) for nodes in columns.values()] + [1])
    width = _MARGIN + len(_KINDS) * _BOX_W + (len(_KINDS) - 1) * _COL_GAP + 2
    top = 22
    height = top + rows * (_BOX_H + _ROW_GAP) + 2
    position: dict[str, tuple[float, float]] = {}
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Lineage: datasets to models to deployments">'
    ]
    titles = {"dataset": "Datasets", "model": "Models", "deployment": "Deployments"}
    dashes = {"dataset": "", "model": ' stroke-dasharray="5 3"', "deployment": ""}
    strokes = {"dataset": "1", "model": "1.2", "deployment": "2.2"}
    for column, kind in enumerate(_KINDS):
        x = _MARGIN + 1 + column * (_BOX_W + _COL_GAP)
        parts.append(
            f'<text x="{x + _BOX_W / 2}" y="14" text-anchor="middle" font-size="11" '
            f'font-weight="bold" font-family="DejaVu Sans">{titles[kind]}</text>'
        )
        for row, node in enumerate(columns.get(kind, [])):
            y = top + row * (_BOX_H + _ROW_GAP)
            position[node["id"]] = (x, y)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="3" '
                f'fill="#fff" stroke="#222" stroke-width="{strokes[kind]}"{dashes[kind]}/>'
            )
            # The label alone: the table under the picture gives it in full.
            label = escape(_shorten(node["label"], _LABEL_CHARS))
            parts.append(
                f'<text x="{x + 6}" y="{y + 17}" font-size="10" '
                f'font-family="DejaVu Sans">{label}</text>'
            )
    for edge in lineage["edges"]:
        if edge["source"] not in position or edge["target"] not in position:
            continue
        sx, sy = position[edge["source"]]
        tx, ty = position[edge["target"]]
        x1, y1 = sx + _BOX_W, sy + _BOX_H / 2
        x2, y2 = tx, ty + _BOX_H / 2
        if x2 <= x1:
            # Same column (a dataset derived from another) or backwards: a bracket in the
            # left margin, from the source's left side to the target's.
            bend = min(sx, tx) - _MARGIN + 3
            parts.append(
                f'<polyline points="{sx},{y1} {bend},{y1} {bend},{y2} {tx - 6},{y2}" '
                'fill="none" stroke="#222" stroke-width="1"/>'
            )
        else:
            parts.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2 - 6}" y2="{y2}" stroke="#222" '
                'stroke-width="1"/>'
            )
        parts.append(
            f'<polygon points="{x2},{y2} {x2 - 7},{y2 - 3.5} {x2 - 7},{y2 + 3.5}" fill="#222"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# PDF (child process)


def render_pdf(
    report: ReportData,
    evidence: bytes,
    out: Path,
    *,
    memory_limit_mb: int = 1024,
    timeout_s: float = 300,
) -> RenderResult:
    """Render `report` as PDF/A-3b at `out` with `evidence` attached as evidence.json.

    WeasyPrint runs in a child process limited to `memory_limit_mb` of address space and
    `timeout_s` seconds. The PDF is written to a temporary file beside `out` and moved into
    place only when complete. Returns the page count, size and SHA-256 of the file.
    Raises `AuditmlError` when rendering fails for any reason (out of memory, timeout,
    WeasyPrint error); no partial file is left at `out`.
    """
    html = render_html(report)
    out = Path(out)
    description = next(
        (a["description"] for a in report["attachments"] if a["name"] == EVIDENCE_NAME),
        f"Evidence export of auditml report {report['report_id']} (JSON)",
    )
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise AuditmlError(f"cannot write the report to {out}: {directory} is not a folder")
    with tempfile.TemporaryDirectory(prefix="auditml-render-") as work:
        work_dir = Path(work)
        (work_dir / EVIDENCE_NAME).write_bytes(evidence)
        job = {
            "html": html,
            "evidence": str(work_dir / EVIDENCE_NAME),
            "description": description,
            "memory_limit_mb": memory_limit_mb,
        }
        job_path = work_dir / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        fd, partial_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=directory)
        os.close(fd)
        partial = Path(partial_name)
        try:
            pages = _run_child(
                job_path, partial, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb
            )
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    data = out.read_bytes()
    return RenderResult(pages=pages, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def _run_child(job_path: Path, partial: Path, *, timeout_s: float, memory_limit_mb: int) -> int:
    """Run the renderer child; return the page count or raise `AuditmlError`."""
    import auditml

    env = dict(os.environ)
    # The child must import this very auditml, wherever the parent found it.
    package_root = str(Path(auditml.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "auditml.report.render", str(job_path), str(partial)]
    try:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and module
            command, capture_output=True, timeout=timeout_s, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise AuditmlError(
            f"rendering the report PDF took longer than {timeout_s:g} s and was stopped; "
            "cut the report (fewer findings) or raise the timeout"
        ) from None
    except OSError as error:
        raise AuditmlError(f"could not start the PDF renderer: {error}") from None
    stdout = completed.stdout.decode("utf-8", "replace").strip()
    stderr = completed.stderr.decode("utf-8", "replace").strip()
    if completed.returncode == _CHILD_EXIT_NO_MEMORY:
        raise AuditmlError(
            f"rendering the report PDF ran out of memory (limit {memory_limit_mb} MB); "
            "raise the renderer memory limit or cut the report"
        )
    if completed.returncode != 0:
        reason = _last_line(stderr) or f"renderer exited with status {completed.returncode}"
        if completed.returncode < 0:
            reason = f"renderer killed by signal {-completed.returncode}"
        # Native code (Pango, HarfBuzz, fontconfig) often fails without a
        # MemoryError when the address-space limit is hit, so name the limit in every failure.
        raise AuditmlError(
            f"rendering the report PDF failed: {reason} "
            f"(memory limit {memory_limit_mb} MB; raise it if the report is large)"
        )
    try:
        pages = int(json.loads(stdout.splitlines()[-1])["pages"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise AuditmlError("rendering the report PDF failed: the renderer gave no result") from None
    return pages


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""


def _child_main(argv: list[str]) -> int:
    """Child entry point: limit memory, then import WeasyPrint and write the PDF."""
    try:
        job_path, out_path = argv
    except ValueError:
        print("usage: python -m auditml.report.render JOB.json OUT.pdf", file=sys.stderr)
        return 2
    try:
        job: dict[str, Any] = json.loads(Path(job_path).read_text(encoding="utf-8"))
        limit = int(job["memory_limit_mb"]) * 1024 * 1024
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except Exception as error:  # The parent wants one line, not a traceback.
        print(f"renderer setup failed: {type(error).__name__}: {error}", file=sys.stderr)
        return _CHILD_EXIT_FAILED
    try:
        from weasyprint import HTML, Attachment  # type: ignore[import-untyped]

        evidence = Attachment(
            filename=job["evidence"],
            name=EVIDENCE_NAME,
            description=job["description"],
            relationship="Data",
        )
        document = HTML(string=job["html"], base_url=None).render()
        document.write_pdf(out_path, pdf_variant="pdf/a-3b", attachments=[evidence])
        pages = len(document.pages)
    except MemoryError:
        print("out of memory", file=sys.stderr)
        return _CHILD_EXIT_NO_MEMORY
    except BaseException as error:  # Report the cause in one line.
        message = str(error).splitlines()[0] if str(error) else ""
        if "memory" in message.lower() or "cannot allocate" in message.lower():
            print(f"{type(error).__name__}: {message}", file=sys.stderr)
            return _CHILD_EXIT_NO_MEMORY
        print(f"{type(error).__name__}: {message}", file=sys.stderr)
        return _CHILD_EXIT_FAILED
    print(json.dumps({"pages": pages}))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
