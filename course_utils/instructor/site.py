"""A static site of the executed lessons: nbconvert's HTML for each, and a landing page from the README.

`course site` (or `make site`) reads runs/<profile>/<lesson>/<lesson>.ipynb, written by `course run`, and
writes site/index.html plus one page per lesson, each with links to the previous and next lesson.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from course_utils.config import course_root

NAV_STYLE = "font-family:sans-serif;padding:0.6em 1em;background:#f3f3f3;border-bottom:1px solid #ddd"


def readme_sections(names: tuple[str, ...] = ("Two commands", "The lessons", "Profiles and parameters")) -> str:
    """The README's sections with these titles, as markdown, in README order."""
    text = (course_root() / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    return "\n".join(f"## {part}" for part in parts[1:] if part.split("\n", 1)[0].strip() in names)


def navigation(stems: list[str], index: int) -> str:
    """A bar of links: the course, the previous lesson, the next one."""
    links = ['<a href="index.html">Course</a>']
    if index > 0:
        links.append(f'<a href="{stems[index - 1]}.html">&larr; {html.escape(stems[index - 1])}</a>')
    if index + 1 < len(stems):
        links.append(f'<a href="{stems[index + 1]}.html">{html.escape(stems[index + 1])} &rarr;</a>')
    return f'<nav style="{NAV_STYLE}">' + " &nbsp;|&nbsp; ".join(links) + "</nav>"


def build_site(executed: Path, out: Path) -> list[Path]:
    """Write out/index.html and out/<lesson>.html from the executed lessons under `executed`; returns the pages."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    from course_utils.runs import atomic_write_text

    lessons = sorted(p for p in Path(executed).glob("*/*.ipynb") if p.parent.name == p.stem)
    if not lessons:
        raise FileNotFoundError(f"no executed lessons under {executed}: run `make course` (or `course run`) first")
    stems = [p.stem for p in lessons]
    exporter = HTMLExporter(template_name="lab")
    pages = []
    for index, path in enumerate(lessons):
        notebook = nbformat.read(path, as_version=4)
        # papermill's injected cell holds the run's own folder (a machine path); the parameters cell above it stays
        notebook.cells = [c for c in notebook.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        body, _ = exporter.from_notebook_node(notebook)
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + navigation(stems, index), body, count=1)
        body = body.replace(f"{course_root()}/", "")  # paths the lessons printed, relative to the course
        pages.append(atomic_write_text(Path(out) / f"{path.stem}.html", body))
    readme = markdown2html_mistune(readme_sections())
    for stem in stems:  # the README's lesson table links each executed lesson to its page
        readme = readme.replace(f"<td><code>{stem}</code></td>", f'<td><a href="{stem}.html"><code>{stem}</code></a></td>')
    unlisted = [s for s in stems if f'href="{s}.html"' not in readme]  # executed lessons the table does not name
    listing = "".join(f'<li><a href="{s}.html">{html.escape(s)}</a></li>' for s in unlisted)
    landing = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Fine-tuning small language models</title>"
               f"<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}"
               f"td,th{{border:1px solid #ccc;padding:0.3em 0.6em;vertical-align:top}}</style></head><body>"
               f"<h1>Fine-tuning small language models: a course that runs</h1>"
               f"<p>Every lesson as CI last ran it, with its outputs and plots. "
               f"Each page links to the previous and the next lesson.</p>"
               f"{f'<ul>{listing}</ul>' if listing else ''}{readme}</body></html>")
    pages.insert(0, atomic_write_text(Path(out) / "index.html", landing))
    return pages
