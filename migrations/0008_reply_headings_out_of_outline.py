from tortoise import migrations
from tortoise.migrations import operations as ops


def _replaced(column: str, pairs: list[tuple[str, str]]) -> str:
    """column with each pair replaced in turn (REPLACE is the same in SQLite and PostgreSQL)."""
    expression = column
    for old, new in pairs:
        expression = f"REPLACE({expression}, '{old}', '{new}')"
    return expression


#: What forum.markdown renders now: a reply's headings as bold paragraphs (the old renderer made
#: h1-h3 into h4 and kept h5-h6, which broke pages' heading order), and code blocks reachable by
#: keyboard. The stored HTML was cleaned by nh3, so its tags are exactly these.
_HEADINGS = [
    pair
    for level in (4, 5, 6)
    for pair in ((f"<h{level}>", "<p><strong>"), (f"</h{level}>", "</strong></p>"))
]
_PRE = [("<pre>", '<pre tabindex="0">')]


class Migration(migrations.Migration):
    dependencies = [('models', '0007_mutes')]

    initial = False

    operations = [
        ops.RunSQL(
            f"UPDATE replies SET html = {_replaced('html', _HEADINGS + _PRE)}"
            " WHERE html LIKE '%<h%' OR html LIKE '%<pre>%'",
            reverse_sql="SELECT 1",
        ),
        ops.RunSQL(
            f"UPDATE articles SET body_html = {_replaced('body_html', _PRE)}"
            " WHERE body_html LIKE '%<pre>%'",
            reverse_sql="SELECT 1",
        ),
    ]
