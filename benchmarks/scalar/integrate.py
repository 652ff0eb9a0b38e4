"""Float loop with math functions: Simpson's rule on sin(x) * exp(-x / 4)."""

import math


def f(x):
    return math.sin(x) * math.exp(-x / 4.0) + math.sqrt(x + 1.0)


def simpson(a, b, n):
    h = (b - a) / n
    total = f(a) + f(b)
    for i in range(1, n):
        x = a + i * h
        if i % 2:
            total += 4.0 * f(x)
        else:
            total += 2.0 * f(x)
    return total * h / 3.0


def main():
    print(round(simpson(0.0, 20.0, 12_000_000), 9))


if __name__ == "__main__":
    main()
