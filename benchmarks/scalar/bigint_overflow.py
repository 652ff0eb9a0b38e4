"""Ints that outgrow 64 bits mid-loop: the loop continues with exact big ints."""


def lucas_mod(n, m):
    a, b = 2, 1
    for _ in range(n):
        a, b = b, a + b  # passes 2**63 after 90 steps: the interpreter takes over
    return a % m


def small_steps(n):
    total = 0
    for i in range(n):
        total += (i * i) % 1000 - 499
    return total


def main():
    total = 0
    for k in range(300):
        total += lucas_mod(200 + k, 1_000_000_007)
    print(total, small_steps(30_000_000))


if __name__ == "__main__":
    main()
