"""Nested loops calling a while-loop function: sum of gcds over pairs."""


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def gcd_sum(n):
    total = 0
    for i in range(1, n):
        for j in range(i, n, 3):
            total += gcd(i, j)
    return total


def main():
    print(gcd_sum(8000))


if __name__ == "__main__":
    main()
