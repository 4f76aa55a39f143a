import pytest

from tmplite import Template, TemplateSyntaxError, UndefinedError, render


def test_variables_and_dotted_lookup():
    ctx = {"user": {"name": "ada", "langs": ["en", "fr"]}}
    assert render("Hi {{ user.name|title }} ({{ user.langs.1 }})", ctx) == "Hi Ada (fr)"


def test_filters_with_arguments():
    assert render('{{ title|default:"Untitled" }}') == "Untitled"
    assert render("{{ xs|join:'/' }}", xs=[1, 2, 3]) == "1/2/3"
    assert render("{{ s|truncate:8 }}", s="abcdefghijkl") == "abcde..."


def test_autoescape_and_safe():
    assert render("{{ v }}", v="<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert render("{{ v|safe }}", v="<b>") == "<b>"
    assert Template("{{ v }}", autoescape=False).render(v="<b>") == "<b>"


def test_if_else():
    tpl = Template("{% if n == 1 %}one{% else %}many{% endif %}")
    assert tpl.render(n=1) == "one"
    assert tpl.render(n=2) == "many"


def test_for_loop_with_index_and_first():
    tpl = Template("{% for x in xs %}{% if not loop.first %};{% endif %}{{ loop.index }}={{ x }}{% endfor %}")
    assert tpl.render(xs=["a", "b", "c"]) == "1=a;2=b;3=c"


def test_for_else_and_length():
    tpl = Template("{% for x in xs %}{{ loop.length }}{% else %}empty{% endfor %}")
    assert tpl.render(xs=[]) == "empty"
    assert tpl.render(xs=[7, 8]) == "22"


def test_nested_loops():
    tpl = Template("{% for row in rows %}[{% for c in row %}{{ c }}{% endfor %}]{% endfor %}")
    assert tpl.render(rows=[[1, 2], [3]]) == "[12][3]"


def test_comments_are_dropped():
    assert render("a{# hidden #}b") == "ab"


def test_strict_mode():
    with pytest.raises(UndefinedError):
        Template("{{ missing }}", strict=True).render()
    assert render("[{{ missing }}]") == "[]"


@pytest.mark.parametrize(
    "source",
    ["{% if x %}", "{% endfor %}", "{% for x of y %}{% endfor %}", "{{ x|nofilter }}", "{% while %}"],
    ids=["unclosed-if", "stray-endfor", "bad-for", "unknown-filter", "unknown-tag"],
)
def test_syntax_errors(source):
    with pytest.raises(TemplateSyntaxError):
        Template(source).render(x=1)
