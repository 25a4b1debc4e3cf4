"""`auditml export`, `import-export` and `verify --export`: take a ledger out, check it, move it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from auditml.cli.output import console, json_on_failure, print_json
from auditml.cli.state import OPTIONS
from auditml.config import load_settings
from auditml.ledger.export import export_ledger, refuse_non_empty
from auditml.ledger.export_check import ExportCheck, verify_export
from auditml.ledger.export_import import import_export
from auditml.ledger.keys import trusted_verifiers
from auditml.ledger.note import Verifier

#: Below this many events a progress bar would only flicker.
PROGRESS_MIN = 50_000

KeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--key",
        help="Trusted verifier key (vkey text) or a file of vkeys; repeatable. Default: the "
        "key directory's ledger.vkey, else the export's own keys (with a warning).",
    ),
]


def export(
    directory: Annotated[Path, typer.Argument(help="New or empty directory to write.")],
    no_subjects: Annotated[
        bool,
        typer.Option(
            "--no-subjects",
            help="Leave out subjects.jsonl (for an outside auditor); a restore then cannot "
            "open sealed personal data.",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    tiles: Annotated[
        bool,
        typer.Option(
            "--tiles",
            help="Also write the C2SP tlog-tiles layout (checkpoint, tile/...) of the latest "
            "checkpoint's tree, readable by any tlog-tiles client as a static site.",
        ),
    ] = False,
) -> None:
    """Write the whole ledger as plain files (events.jsonl, checkpoints, keys, MANIFEST)."""
    refuse_non_empty(directory)
    with OPTIONS.open_ledger() as ledger:
        total = len(ledger)
        with _ProgressBar("exporting", total, json_out) as update:
            result = export_ledger(
                ledger, directory, subjects=not no_subjects, progress=update, tiles=tiles
            )
    if json_out:
        print_json({"ok": True, **asdict(result), "uncovered": result.uncovered})
        return
    subjects = (
        "no subjects (--no-subjects)"
        if result.subjects is None
        else f"{result.subjects} subject(s)"
    )
    console.print(
        f"[green]exported[/] {result.origin} to {result.directory}: {result.size} events, "
        f"{result.checkpoints} checkpoints, {subjects}, {result.bytes:,} bytes "
        f"in {result.seconds:.2f} s"
    )
    if result.tiles is not None:
        console.print(
            f"  tlog-tiles: checkpoint and {result.tiles} tile file(s) for size "
            f"{result.latest_checkpoint_size}"
        )
    if result.uncovered:
        console.print(
            f"  [yellow]{result.uncovered} event(s) after the latest checkpoint are not signed "
            "over in this export[/]; run `auditml checkpoint` before exporting to cover them"
        )
    console.print(f"  check it with: auditml verify --export {result.directory}")


def verify_export_command(directory: Path, key: list[str] | None, json_out: bool) -> None:
    """`auditml verify --export DIR`: verify an export with no database."""
    with _ProgressBar("verifying", None, json_out) as update:
        result = verify_export(directory, keys=_keys(key), key_dir=_key_dir(), progress=update)
    _print_check(result, json_out)


@json_on_failure
def import_export_command(
    directory: Annotated[Path, typer.Argument(help="An export directory (auditml export).")],
    url: Annotated[str, typer.Argument(help="Database URL of an EMPTY database to restore into.")],
    key: KeyOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Verify an export, then restore it into an empty database (all or nothing)."""
    with (
        _ProgressBar("verifying", None, json_out) as verified,
        _ProgressBar("importing", None, json_out) as done,
    ):
        result = import_export(
            directory,
            url,
            keys=_keys(key),
            key_dir=_key_dir(),
            progress=done,
            verify_progress=verified,
        )
    if json_out:
        print_json(
            {
                "ok": True,
                "url": _masked(url),
                "origin": result.check.origin,
                "size": result.check.size,
                "checkpoints": result.check.checkpoints_verified,
                "nodes": result.nodes,
                "subjects": result.subjects,
                "key_source": result.check.key_source,
                "seconds": result.seconds,
            }
        )
        return
    console.print(
        f"[green]restored[/] {result.check.origin} into {_masked(url)}: {result.check.size} "
        f"events, {result.check.checkpoints_verified} checkpoints, {result.nodes} tree nodes, "
        f"{result.subjects} subject(s) in {result.seconds:.2f} s"
    )
    _warn_untrusted(result.check)
    console.print("  check it with: auditml --url <URL> verify --deep")


def _print_check(result: ExportCheck, json_out: bool) -> None:
    if json_out:
        print_json({"ok": True, **asdict(result), "uncovered": result.uncovered})
        return
    subjects = "no subjects" if result.subjects is None else f"{result.subjects} subject(s)"
    console.print(
        f"[green]verified export[/] {result.directory} ({result.origin}): {result.size} events, "
        f"{result.checkpoints_verified} checkpoint signature(s) valid, {result.files} files "
        f"match MANIFEST, {subjects}, in {result.seconds:.2f} s"
    )
    if result.uncovered:
        console.print(
            f"  [yellow]{result.uncovered} event(s) after the latest checkpoint are not signed "
            "over[/]: they are only checked for self-consistency"
        )
    console.print(f"  trusted keys from {result.key_source}")
    _warn_untrusted(result)


def _warn_untrusted(result: ExportCheck) -> None:
    if result.keys_from_export:
        console.print(
            "  [yellow]warning: no trusted key was given (--key, or ledger.vkey in the key "
            "directory); the export's own keys were used, so this proves consistency, not "
            "origin[/]"
        )


def _keys(values: list[str] | None) -> list[Verifier] | None:
    if not values:
        return None
    return trusted_verifiers(values)


def _key_dir() -> Path:
    return load_settings(key_dir=OPTIONS.home).key_dir


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class _ProgressBar:
    """A rich progress bar fed by (done, total) callbacks; silent for small jobs and --json."""

    def __init__(self, what: str, total: int | None, quiet: bool) -> None:
        self.what, self.total, self.quiet = what, total, quiet
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _ProgressBar:
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or total < PROGRESS_MIN or not console.is_terminal:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn(self.what),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,} events"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.what, total=total)
        assert self.task is not None
        self.progress.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command("import-export")(import_export_command)
