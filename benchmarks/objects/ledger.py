"""Exceptions in the loop: parse ledger lines, skipping malformed amounts
(ValueError) and unknown accounts (KeyError), with a context manager
around each batch."""


class Batch:
    def __init__(self, totals):
        self.totals = totals
        self.rejected = 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False


def make_lines(n):
    lines = []
    for i in range(n):
        amount = str((i * 7919) % 1000 - 500) if i % 11 else "n/a"
        account = f"acct{i % 13}"
        lines.append(account + ":" + amount)
    return lines


def post(batch, line):
    account, _, amount = line.partition(":")
    try:
        value = int(amount)
    except ValueError:
        batch.rejected += 1
        return 0
    try:
        batch.totals[account] += value
    except KeyError:
        batch.rejected += 1
        return 0
    return value


def main():
    lines = make_lines(60_000)
    totals = {f"acct{i}": 0 for i in range(12)}
    grand = 0
    rejected = 0
    for _ in range(24):
        with Batch(totals) as batch:
            for line in lines:
                grand += post(batch, line)
        rejected += batch.rejected
    print(grand, rejected, sorted(totals.items())[:3])


if __name__ == "__main__":
    main()
