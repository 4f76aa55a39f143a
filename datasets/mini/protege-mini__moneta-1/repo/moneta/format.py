"""Human-readable formatting."""


def format_money(money, symbol=True, thousands=","):
    """Format like ``$1,234.50`` / ``-¥1,200`` / ``1,234.50 USD``."""
    amount = money.amount
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):f}"
    whole, _, frac = text.partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    body = thousands.join(groups) + (("." + frac) if frac else "")
    if symbol and money.currency.symbol:
        return f"{sign}{money.currency.symbol}{body}"
    return f"{sign}{body} {money.currency.code}"
