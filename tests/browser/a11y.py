"""axe-core in the browser tests: a page may have no serious or critical violations."""

from __future__ import annotations

SERIOUS = ("serious", "critical")


def assert_accessible(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    # A click that navigates returns before the next page has loaded; portal.js (which makes
    # a table that scrolls on a phone keyboard-reachable) runs on DOMContentLoaded.
    page.wait_for_load_state("load")
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    assert serious == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in serious
    )


def assert_fits(page, width: int) -> None:
    """The page's content (`main`) fits the viewport: nothing in it reaches past the right
    edge (wide tables scroll inside their own box). The top bar is the base layout's, made to
    fit phones on its own branch."""
    wide = page.evaluate(
        """(width) => [...document.querySelectorAll('main *')]
            .filter(e => e.closest('.table-wrap, .diff') === null || e.matches('.table-wrap'))
            .filter(e => e.getBoundingClientRect().right > width + 1)
            .map(e => `${e.tagName.toLowerCase()}.${e.className}`.slice(0, 60))""",
        width,
    )
    assert wide == [], f"wider than {width}px: {wide[:5]}"
