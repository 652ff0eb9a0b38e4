"""An ordinary application rather than a kernel: many small functions, most
called a few dozen times, a few called per record.  Parse order records,
validate them, aggregate per customer and product, compute statistics and
render a text report through a tiny template engine."""

import math

PRODUCTS = ["widget", "gadget", "doohickey", "gizmo", "sprocket", "flange", "grommet"]
REGIONS = ["north", "south", "east", "west"]


def make_record(i):
    customer = f"c{(i * 7919) % 613:03d}"
    product = PRODUCTS[(i * 31) % len(PRODUCTS)]
    quantity = 1 + (i * 13) % 9
    price = 2.5 + ((i * 17) % 400) / 8
    region = REGIONS[(i // 3) % len(REGIONS)]
    note = "rush" if i % 29 == 0 else ("" if i % 5 else "gift wrap")
    if i % 97 == 0:
        quantity = "n/a"
    return f"{i};{customer};{product};{quantity};{price:.2f};{region};{note}"


def split_fields(line):
    return line.split(";")


def parse_int(text):
    return int(text) if text.isdigit() else None


def parse_price(text):
    whole, _, cents = text.partition(".")
    if not whole.isdigit() or not cents.isdigit():
        return None
    return int(whole) + int(cents) / 100


def valid_customer(name):
    return len(name) == 4 and name[0] == "c" and name[1:].isdigit()


def valid_product(name):
    return name in PRODUCTS


def parse_record(line):
    fields = split_fields(line)
    if len(fields) != 7:
        return None
    ident, customer, product, quantity, price, region, note = fields
    quantity = parse_int(quantity)
    price = parse_price(price)
    if quantity is None or price is None or not valid_customer(customer) or not valid_product(product):
        return None
    return {"id": int(ident), "customer": customer, "product": product, "quantity": quantity,
            "price": price, "region": region, "note": note}


def order_total(order):
    total = order["quantity"] * order["price"]
    if order["note"] == "rush":
        total *= 1.1
    return round(total, 2)


class Ledger:
    def __init__(self):
        self.by_customer = {}
        self.by_product = {}
        self.by_region = {}
        self.rejected = 0

    def add(self, order):
        amount = order_total(order)
        self._bump(self.by_customer, order["customer"], amount)
        self._bump(self.by_product, order["product"], amount)
        self._bump(self.by_region, order["region"], amount)

    @staticmethod
    def _bump(table, key, amount):
        table.setdefault(key, []).append(amount)


def mean(values):
    return sum(values) / len(values)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def stdev(values):
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1))


def summarize(table):
    return {key: {"count": len(v), "total": round(sum(v), 2), "mean": round(mean(v), 2),
                  "median": round(median(v), 2), "stdev": round(stdev(v), 2)} for key, v in table.items()}


def render(template, values):
    out = []
    for piece in template.split("{"):
        if "}" in piece:
            name, _, rest = piece.partition("}")
            out.append(str(values[name]) + rest)
        else:
            out.append(piece)
    return "".join(out)


def pad(text, width):
    return text + " " * (width - len(text)) if len(text) < width else text[:width]


def format_row(key, stats):
    line = render("{key}: {count} orders, total {total}, mean {mean}, median {median}, sd {stdev}",
                  dict(stats, key=pad(key, 10)))
    return line


def top(summary, n):
    return sorted(summary.items(), key=lambda kv: (-kv[1]["total"], kv[0]))[:n]


def report(ledger):
    lines = ["== products =="]
    lines += [format_row(k, s) for k, s in top(summarize(ledger.by_product), 5)]
    lines.append("== regions ==")
    lines += [format_row(k, s) for k, s in top(summarize(ledger.by_region), 4)]
    lines.append("== best customers ==")
    lines += [format_row(k, s) for k, s in top(summarize(ledger.by_customer), 3)]
    lines.append(f"rejected: {ledger.rejected}")
    return "\n".join(lines)


def run_batch(start, count):
    ledger = Ledger()
    for i in range(start, start + count):
        order = parse_record(make_record(i))
        if order is None:
            ledger.rejected += 1
        else:
            ledger.add(order)
    return report(ledger)


def main():
    digest = 0
    for batch in range(40):
        text = run_batch(batch * 5000, 5000)
        digest = (digest * 31 + sum(map(ord, text))) % 1_000_000_007
    print(text)
    print("digest", digest)


if __name__ == "__main__":
    main()
