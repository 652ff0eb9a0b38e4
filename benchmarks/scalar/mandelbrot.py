"""Nested float loops: escape-time Mandelbrot on a grid (no complex numbers)."""


def escape(cr, ci, limit):
    zr = zi = 0.0
    i = 0
    while i < limit and zr * zr + zi * zi <= 4.0:
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
        i += 1
    return i


def mandelbrot(width, height, limit):
    total = 0
    for y in range(height):
        ci = 2.0 * y / height - 1.0
        for x in range(width):
            cr = 3.0 * x / width - 2.0
            total += escape(cr, ci, limit)
    return total


def main():
    print(mandelbrot(800, 600, 200))


if __name__ == "__main__":
    main()
