"""The report in a real browser (headless Chromium): it renders, every image loads, no errors.

The checks are first shown to fail on pages built to fail them (a blank page, a broken image, a
console error), so that a passing report cannot be a vacuous pass.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

#: A rendered page is "not blank" above these: grey-level spread and distinct colours.
MIN_GREY_STD = 10.0
MIN_COLOURS = 50


def png_base64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def page(path, body: str):
    path.write_text(
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>t</title>\n'
        f"</head>\n<body>{body}</body>\n</html>\n",
        encoding="utf-8",
    )
    return path


def test_the_report_renders_with_every_image_and_no_errors(browser, report, png_content, tmp_path):
    shot = png_content(browser.screenshot(report.html, tmp_path / "shot.png"))
    assert shot.grey_std > MIN_GREY_STD
    assert shot.colours > MIN_COLOURS
    check = browser.check(report.html)
    # 2 runs x 5 sample grids, 3 training figures, 2 metric figures.
    assert len(check.images) == 15
    assert check.broken_images == []
    assert check.errors == []
    assert check.console == []


def test_a_blank_page_fails_the_screenshot_check(browser, tmp_path, png_content):
    blank = page(tmp_path / "blank.html", "")
    shot = png_content(browser.screenshot(blank, tmp_path / "blank.png"))
    assert shot.grey_std <= MIN_GREY_STD
    assert shot.colours <= MIN_COLOURS


def test_broken_images_are_detected(browser, tmp_path):
    body = (
        f'<img alt="good" src="data:image/png;base64,{png_base64(3, 2)}">'
        '<img alt="corrupt" src="data:image/png;base64,AAAA">'
        '<img alt="missing" src="missing.png">'
    )
    check = browser.check(page(tmp_path / "broken.html", body))
    assert check.images[0] == ("good", 3)
    assert check.broken_images == ["corrupt", "missing"]
    assert len(check.errors) == 2  # one load error per broken image


def test_console_errors_and_exceptions_are_detected(browser, tmp_path):
    body = '<script>console.error("boom"); undefinedFunction();</script>'
    check = browser.check(page(tmp_path / "errors.html", body))
    assert "boom" in check.errors
    assert any("undefinedFunction" in error for error in check.errors)
    assert check.console  # the browser's own log saw them too
