"""``monitor timemap | annotate``: reaching archived copies from outside (Memento, Robust Links)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli import app, console, fail, opened

if TYPE_CHECKING:
    from monitor.archive.annotate import AtChoice

_KINDS = {".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
          ".html": "html", ".htm": "html", ".xhtml": "html"}


@app.command()
def timemap(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="An archived URL (canonical, as given, or one a moved "
                                            "source had).", show_default=False)],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="File to write (default: stdout).")] = None,
) -> None:
    """Memento TimeMap (RFC 7089, application/link-format) of an archived URL."""
    from monitor.archive.memento import LINK_FORMAT, NoMementos, timemap_for
    from monitor.store import session

    with opened(ctx) as home, session(home.engine) as db:
        try:
            text, count = timemap_for(db, url, home.settings.archive.replay_url)
        except NoMementos as exc:
            fail(str(exc), code=1)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {output}: {count} mementos ({LINK_FORMAT})", highlight=False, soft_wrap=True)


@app.command("annotate")
def annotate_document(
    ctx: typer.Context,
    document: Annotated[Path, typer.Argument(help="The citing document (Markdown or HTML).",
                                             show_default=False)],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Annotated copy to write "
                                                "(default: DOC.annotated.EXT).")] = None,
    at: Annotated[str, typer.Option(help="cited: the copy nearest each source's cited_at (the latest "
                                         "when it has none); latest: the latest copy.")] = "cited",
) -> None:
    """Robust Links: a copy of the document whose links carry data-versionurl/-versiondate."""
    from monitor.archive.annotate import VersionFinder, annotate
    from monitor.store import session
    from monitor.urls import guess_kind

    if at not in ("cited", "latest"):
        fail(f"--at must be cited or latest, not {at!r}")
    choice: AtChoice = "cited" if at == "cited" else "latest"
    text = _read_document(document)
    target = output or document.with_name(f"{document.stem}.annotated{document.suffix}")
    if target.exists() and target.resolve() == document.resolve():
        fail(f"-o {target}: that is the document itself; write the annotated copy elsewhere")
    kind = _KINDS.get(document.suffix.lower()) or guess_kind(text)
    with opened(ctx) as home, session(home.engine) as db:
        finder = VersionFinder(db, home.settings.archive.replay_url, choice)
        annotated = annotate(text, kind, finder)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(annotated.encode("utf-8", "surrogateescape"))
    console.print(f"{finder.tally.summary()}: wrote {target}", highlight=False, soft_wrap=True)


def _read_document(path: Path) -> str:
    """The document as text; bytes that are not UTF-8 pass through unchanged."""
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
