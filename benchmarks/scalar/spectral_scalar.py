"""Scalar spectral-norm kernel: the matrix A(i, j) computed on the fly."""


def a(i, j):
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def row_sum(i, n, scale):
    total = 0.0
    for j in range(n):
        total += a(i, j) * (scale + j % 7)
    return total


def kernel(n):
    total = 0.0
    for i in range(n):
        total += row_sum(i, n, 1.0) * row_sum(n - i - 1, n, 0.5)
    return total


def main():
    print(round(kernel(2400), 6))


if __name__ == "__main__":
    main()
