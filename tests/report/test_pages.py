"""The written report: a self-contained, escaped HTML page and a Markdown summary of the numbers."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from genlab.errors import GenlabError
from genlab.report import write_report
from genlab.report.tables import format_duration, format_number

PNG_URI = "data:image/png;base64,"


#: Attributes whose value is a URL (or, for srcset, a list of them) in HTML5 and SVG.
URL_ATTRIBUTES = frozenset(
    {
        "action",
        "archive",
        "background",
        "cite",
        "codebase",
        "data",
        "formaction",
        "href",
        "icon",
        "longdesc",
        "manifest",
        "ping",
        "poster",
        "src",
        "srcset",
        "usemap",
        "xlink:href",
    }
)
#: Elements that load or embed something, or change how relative URLs resolve.
LOADING_TAGS = frozenset({"script", "link", "iframe", "frame", "object", "embed", "base"})
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)


class PageParser(HTMLParser):
    """Collects tags, image sources, every URL the page refers to, its CSS and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.references: list[str] = []
        self.css: list[str] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes)
        for name, value in attrs:
            if value is None:
                continue
            if name == "srcset":  # "URL [descriptor], URL [descriptor], ..."
                self.references += [c.split()[0] for c in re.split(r",\s+", value) if c.strip()]
            elif name in URL_ATTRIBUTES:
                self.references.append(value)
            elif name == "style":
                self.css.append(value)
        if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
            content = attributes.get("content") or ""
            self.references += re.findall(r"url\s*=\s*['\"]?([^'\";]+)", content, re.IGNORECASE)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        (self.css if self._in_style else self.text).append(data)

    def outside_references(self) -> list[str]:
        """Every URL in an attribute or in CSS that is neither a data: URI nor a #fragment."""
        urls = self.references + [match[1] for css in self.css for match in CSS_URL.findall(css)]
        imports = [css for css in self.css if "@import" in css.lower()]
        return [url for url in urls if not is_inside_the_page(url)] + imports


def is_inside_the_page(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith(("data:", "#"))


def parse(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def decode_png(uri: str) -> Image.Image:
    assert uri.startswith(PNG_URI)
    image = Image.open(io.BytesIO(base64.b64decode(uri[len(PNG_URI) :], validate=True)))
    assert image.format == "PNG"
    image.load()
    return image


def test_writes_the_page_the_summary_and_the_figures(report):
    assert report.html.is_file()
    assert report.markdown == report.html.with_suffix(".md")
    folder = report.html.parent / "report_files"
    assert sorted(p.name for p in report.figures) == sorted(p.name for p in folder.iterdir())
    assert {"losses.png", "wasserstein.png", "grad-norms.png"} <= {p.name for p in report.figures}
    for path in report.figures:
        with Image.open(path) as image:
            assert image.format == "PNG"


def test_every_image_is_an_embedded_png(report):
    page = parse(report.html)
    # 2 runs with sample strips of 5 grids; 3 training and 2 metric figures.
    assert len(page.images) == 2 * 5 + 3 + 2
    for image in page.images:
        decoded = decode_png(image["src"])
        assert decoded.size == (int(image["width"]), int(image["height"]))
        assert image["alt"]


def test_the_page_references_nothing_outside_itself(report):
    text = report.html.read_text(encoding="utf-8")
    page = parse(report.html)
    assert page.outside_references() == []
    assert all(ref.startswith(PNG_URI) for ref in page.references)  # the images, nothing else
    assert page.css  # the inline style sheet was seen, so its url(...)s were checked
    assert not LOADING_TAGS & set(page.tags)
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text


def test_the_reference_check_finds_every_kind_of_outside_reference(tmp_path):
    # A page built to fail: each line refers outside in another way; the data: URI and the
    # fragment (and "http" inside base64 or visible text) are not references to anything outside.
    page = tmp_path / "outside.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5; url=https://example.org/next">'
        '<style>@import "theme.css"; body { background: url( "http://example.org/a.png" ) }'
        "</style></head><body>"
        '<img src="https://example.org/b.png" srcset="c.png 1x, //example.org/d.png 2x">'
        '<a href="e.html">e</a><a href="#top">top</a><p style="background:url(f.png)">'
        f'<img src="{PNG_URI}iVBORw0KGgohttpAAAA"> http://example.org in text</p>'
        "</body></html>",
        encoding="utf-8",
    )
    found = parse(page).outside_references()
    imports = [reference for reference in found if "@import" in reference]
    assert len(imports) == 1
    assert sorted(set(found) - set(imports)) == [
        "//example.org/d.png",
        "c.png",
        "e.html",
        "f.png",
        "http://example.org/a.png",
        "https://example.org/b.png",
        "https://example.org/next",
    ]
    assert len(found) == 8


def test_the_page_shows_the_numbers(report, final_evaluation_dict, runs):
    text = " ".join(parse(report.html).text)
    final = final_evaluation_dict
    # Formatted independently: four significant digits, intervals in brackets.
    assert f"{final['fid']:.4g}" == "17.35"
    assert "17.35" in text
    assert f"[{final['fid_ci_low']:.4g}, {final['fid_ci_high']:.4g}]" in text
    assert f"{final['kid_mean']:.4g} ± {final['kid_std']:.4g}" in text
    assert f"{final['precision']:.4g}" in text
    assert f"{final['recall']:.4g}" in text
    assert "classifier-mnist features" in text
    assert "N = 10 000 reference / 5 000 judged" in text
    config = json.loads((runs.gan / "config.json").read_text())
    steps = config["schedule"]["steps"]
    assert f"{steps} of {steps}" in text  # steps reached
    assert "no samples yet" in text  # the killed run
    assert "a VAE has no critic" in text
    assert "no checkpoint yet" in text
    assert "lower bound on L" in text
    assert "upper bound on L" in text


def test_the_summary_has_the_tables_and_links_to_the_figures(report, final_evaluation_dict):
    markdown = report.markdown.read_text(encoding="utf-8")
    final = final_evaluation_dict
    # FID on classifier features is named by its space.
    row = re.search(r"^\| FD_classifier-mnist ↓ \| (.+?) \| (.+?) \|$", markdown, re.MULTILINE)
    assert row is not None
    assert row.group(1) == f"{final['fid']:.4g}"
    assert row.group(2) == f"\\[{final['fid_ci_low']:.4g}, {final['fid_ci_high']:.4g}\\]"
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(links) == len(report.figures)
    for link in links:
        assert (report.markdown.parent / link).is_file()
    assert "| option | 00000-wgan-gp-digits | 00001-vae-digits | 00002-killed |" in markdown
    assert "_no samples yet_" in markdown


def test_text_from_run_folders_is_escaped(runs, copy_run, tmp_path):
    run = copy_run(runs.vae, name='<i>vae & "co"')
    written = write_report([run], out=tmp_path / "out" / "page.html", lipschitz=False)
    text = written.html.read_text(encoding="utf-8")
    assert "&lt;i&gt;vae &amp; &quot;co&quot;" in text
    assert "i" not in parse(written.html).tags
    assert written.figures[0].parent == tmp_path / "out" / "page_files"
    assert '\\<i\\>vae & "co"' in written.markdown.read_text(encoding="utf-8")


def test_single_run_strip_and_figure_folder_option(runs, tmp_path):
    figures = tmp_path / "pngs"
    written = write_report(
        [runs.gan], out=tmp_path / "r.html", figures_dir=figures, lipschitz=False
    )
    assert all(path.parent == figures for path in written.figures)
    text = written.html.read_text(encoding="utf-8")
    assert '<div class="strip">' in text
    assert "step 12 (last)" in text
    assert "](pngs/losses.png)" in written.markdown.read_text(encoding="utf-8")


def test_bad_input_is_one_clear_error(runs, tmp_path):
    with pytest.raises(GenlabError, match="no run folders given"):
        write_report([], out=tmp_path / "r.html")
    with pytest.raises(GenlabError, match="not a run folder"):
        write_report([runs.gan, tmp_path], out=tmp_path / "r.html")
    with pytest.raises(GenlabError, match=r"should end in \.html"):
        write_report([runs.gan], out=tmp_path / "r.pdf")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GenlabError, match=r"cannot create the folder .* writable"):
        write_report([runs.gan], out=tmp_path / "file" / "r.html", lipschitz=False)
    assert not list(tmp_path.glob("*.html"))
    assert not list(tmp_path.glob("*.md"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(17.3456, "17.35"), (1e-4, "0.0001"), (5e-5, "5e-05"), (10000, "10 000"), (None, "—")],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(3.04, "3.0 s"), (42.4, "42 s"), (192, "3 min 12 s"), (3900, "1 h 05 min"), (None, "—")],
)
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


def test_a_time_budget_is_shown_instead_of_the_step_ceiling(runs, copy_run, tmp_path):
    run = copy_run(runs.gan)
    config = json.loads((run / "config.json").read_text())
    config["schedule"].update(minutes=2.0, steps=10**9)
    (run / "config.json").write_text(json.dumps(config))
    files = write_report([run], out=tmp_path / "r.html", lipschitz=False)
    summary = files.markdown.read_text()
    assert "in a budget of 2 min" in summary
    assert "1 000 000 000" not in summary
