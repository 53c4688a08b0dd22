"""The app as a learner sees it in a real browser: eleven tabs, each opening on its lesson."""
import pytest

from tests.conftest import open_tab
from tests.test_app import EXPECTED_TABS

pytestmark = pytest.mark.browser


def test_every_tab_opens_on_its_lesson(page, tmp_path):
    tabs = page.get_by_role("tab")
    names = [t.inner_text().strip() for t in tabs.all()]
    assert [n for n in names if n[:1].isdigit() and " · " in n] == EXPECTED_TABS  # a lab's inner tabs aside
    for number, label in enumerate(EXPECTED_TABS, start=1):
        open_tab(page, label)
        heading = page.get_by_role("heading", name=f"Part {number} ·", exact=False)
        heading.wait_for()
        assert heading.is_visible(), label
    page.screenshot(path=str(tmp_path / "last-tab.png"))


def test_formulas_are_rendered(page):
    open_tab(page, "3 · Core math")
    page.get_by_role("heading", name="Part 3 ·", exact=False).wait_for()
    panel = page.locator("[role=tabpanel]:visible")
    # the lab is on the first screen; the whole lesson is one click away
    assert not panel.locator(".lesson-text .katex >> visible=true").count()
    panel.get_by_text("Lesson · read it first").click()
    formulas = page.locator(".katex >> visible=true")
    formulas.first.wait_for()
    assert formulas.count() > 3
    # nothing left unrendered: no raw LaTeX delimiters visible in the lesson
    assert "$$" not in page.locator(".lesson-text >> visible=true").first.inner_text()


def test_narrow_screen_still_usable(browser, app_url):
    context = browser.new_context(viewport={"width": 400, "height": 800})
    pg = context.new_page()
    pg.goto(app_url)
    pg.get_by_text("Running on").wait_for(timeout=120_000)
    # the page must not need sideways scrolling on a phone
    assert pg.evaluate("document.documentElement.scrollWidth") <= 420
    context.close()
