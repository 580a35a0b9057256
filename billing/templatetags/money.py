from django import template

from billing import money as money_module

register = template.Library()


@register.filter
def money(amount):
    return money_module.display(amount)
