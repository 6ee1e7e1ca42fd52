"""A template's line diff as the review pages show it: one `<span data-tag>` a line, escaped,
the same markup the template loop wrote."""

from django.template import engines

from templates_review.diff import diff_html, line_diff

LOOP = (
    '{% for tag, line in diff %}<span data-tag="{{ tag }}">{{ tag }} {{ line }}</span>\n'
    "{% endfor %}"
)


def test_it_writes_what_the_template_loop_wrote():
    pairs = line_diff(["body: Hi <b>{{1}}</b> & bye", "footer: x"], ['body: Hi "you"', "x: 'y'"])
    pairs.append((" ", None))

    assert pairs  # additions, removals and a hunk header
    assert diff_html(pairs) == engines["django"].from_string(LOOP).render({"diff": pairs})
    assert "&lt;b&gt;" in diff_html(pairs)


def test_no_diff_is_nothing():
    assert diff_html([]) == ""
