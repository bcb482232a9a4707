"""Template tags of the review page."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def evidence_section(context, section):
    """Render one ``apps.reviews.evidence.Section``: its template with its own context on top of the page's."""
    tpl = context.template.engine.get_template(section.template)
    with context.push(**section.context):
        return tpl.render(context)
