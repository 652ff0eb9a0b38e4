"""Lists indexed by ints: a sieve of Eratosthenes, then prime gaps."""


def sieve(n):
    flags = [True] * (n + 1)
    flags[0] = flags[1] = False
    i = 2
    while i * i <= n:
        if flags[i]:
            for j in range(i * i, n + 1, i):
                flags[j] = False
        i += 1
    return flags


def largest_gap(flags):
    last, gap = 2, 0
    for i in range(3, len(flags)):
        if flags[i]:
            if i - last > gap:
                gap = i - last
            last = i
    return gap


def main():
    for n in (4_000_000, 5_000_000, 6_000_000):
        flags = sieve(n)
        print(sum(flags), largest_gap(flags))


if __name__ == "__main__":
    main()
