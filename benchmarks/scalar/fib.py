"""Recursive calls: the naive Fibonacci."""


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def main():
    print(fib(37))


if __name__ == "__main__":
    main()
