"""`course site`: one HTML page per executed lesson with links between them, and a landing page from the README.

The browser-marked test builds the site from a ci run of lesson 01 and reads it in headless Chromium."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from course_utils import config
from course_utils.instructor import cli, runner, site

SHOTS = config.course_root() / "runs" / "browser"


def executed_lesson(folder, stem: str, printed: str) -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"print({printed!r})", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed + "\n")]
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {stem}"), cell]
    (folder / stem).mkdir(parents=True)
    nbformat.write(notebook, folder / stem / f"{stem}.ipynb")


def test_the_site_has_a_page_per_lesson_with_its_outputs_and_links(tmp_path, capsys):
    runs = tmp_path / "runs"
    for stem in ("01_intro", "02_full_vs_peft", "03_lora"):
        executed_lesson(runs, stem, f"output of {stem}")
    (runs / "03_lora" / "03_lora.failed.ipynb").write_text("{}")  # not a lesson page
    assert cli.main(["site", "--runs", str(runs), "--out", str(tmp_path / "site")]) == 0
    pages = {p.name: p.read_text() for p in (tmp_path / "site").glob("*.html")}
    assert sorted(pages) == ["01_intro.html", "02_full_vs_peft.html", "03_lora.html", "index.html"]
    middle = pages["02_full_vs_peft.html"]
    assert "output of 02_full_vs_peft" in middle
    assert 'href="01_intro.html"' in middle and 'href="03_lora.html"' in middle and 'href="index.html"' in middle
    last_nav = pages["03_lora.html"].split("<nav", 1)[1].split("</nav>")[0]
    assert "&larr;" in last_nav and "&rarr;" not in last_nav  # the last lesson links back, not on
    landing = pages["index.html"]
    assert all(f'href="{stem}.html"' in landing for stem in ("01_intro", "02_full_vs_peft", "03_lora"))
    assert "Two commands" in landing and "<table>" in landing  # the two commands and the lesson table, from the README
    assert "wrote 4 pages" in capsys.readouterr().out


def test_without_executed_lessons_the_site_says_to_run_the_course_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="make course"):
        site.build_site(tmp_path / "nothing", tmp_path / "site")


@pytest.mark.browser
def test_the_site_of_an_executed_lesson_shows_its_figures_and_links_in_chromium(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is missing: `apt-get install chromium` (.ci/run does this before make test)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is missing: make setup installs it")
    outcome = runner.run_notebook("01_intro", "ci", {}, tmp_path / "runs", progress=False)  # a ci run of one lesson
    assert outcome.status == "ok", outcome.detail
    executed = nbformat.read(tmp_path / "runs" / "01_intro" / "01_intro.ipynb", as_version=4)
    figures = sum("image/png" in out.get("data", {}) for cell in executed.cells for out in cell.get("outputs", []))
    pages = site.build_site(tmp_path / "runs", tmp_path / "site")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("http*://**", lambda route: route.abort())  # offline: MathJax from its CDN is not needed to read
        for path in pages:
            response = page.goto(path.as_uri())
            assert response is not None and response.ok, f"{path.name} did not load"
            assert "Traceback" not in page.inner_text("body"), f"{path.name} shows a traceback"
            for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
                if href.startswith(("http://", "https://", "mailto:")):
                    continue
                target, _, anchor = href.partition("#")
                assert not target or (path.parent / target).is_file(), f"{path.name} links to a missing page: {href}"
                if anchor and not target:
                    # as a browser does: the fragment as written, then percent-decoded
                    found = page.evaluate("a => [a, decodeURIComponent(a)].some(id => document.getElementById(id))", anchor)
                    assert found, f"{path.name} links to a missing anchor: {href}"
        page.goto((tmp_path / "site" / "01_intro.html").as_uri())
        shown = page.eval_on_selector_all("img", "images => images.filter(i => i.complete && i.naturalWidth > 0).length")
        assert figures >= 3 and shown == figures, f"01_intro has {figures} figures; its page shows {shown}"
        page.locator("img").first.scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "site-01_intro.png"))
        browser.close()
