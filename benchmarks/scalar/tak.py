"""Deep recursion with three arguments (Takeuchi)."""


def tak(x, y, z):
    if y < x:
        return tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
    return z


def main():
    total = 0
    for i in range(12):
        total += tak(25 + i % 3, 16, 8)
    print(total)


if __name__ == "__main__":
    main()
