"""tmplite: a tiny Jinja-flavoured template engine.

Supported syntax::

    {{ user.name|upper }}              variables, dotted lookup, filters
    {{ title|default:"Untitled" }}     filter arguments
    {% if cond %}...{% else %}...{% endif %}
    {% for item in items %}...{% endfor %}   with loop.index, loop.index0,
                                             loop.first, loop.last, loop.length
    {# comment #}

Output is HTML-escaped unless ``autoescape=False`` or the ``safe`` filter is used.
"""

from .errors import TemplateError, TemplateSyntaxError, UndefinedError
from .escape import Markup, escape
from .render import Template, render

__all__ = ["Markup", "Template", "TemplateError", "TemplateSyntaxError", "UndefinedError", "escape", "render"]
__version__ = "1.0.0"
