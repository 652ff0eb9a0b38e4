"""Integer loop: longest Collatz sequence below a bound."""


def collatz_length(n):
    steps = 1
    while n != 1:
        if n % 2 == 0:
            n //= 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def longest(limit):
    best, best_n = 0, 0
    for n in range(1, limit):
        length = collatz_length(n)
        if length > best:
            best, best_n = length, n
    return best_n, best


def main():
    n, length = longest(400000)
    print(n, length)


if __name__ == "__main__":
    main()
