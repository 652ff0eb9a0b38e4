"""Float integration with scalar locals: a two-body orbit (leapfrog)."""

import math


def energy(x, y, vx, vy):
    return 0.5 * (vx * vx + vy * vy) - 1.0 / math.sqrt(x * x + y * y)


def orbit(steps, dt):
    x, y = 1.0, 0.0
    vx, vy = 0.0, 1.2
    r = math.hypot(x, y)
    ax, ay = -x / (r * r * r), -y / (r * r * r)
    for _ in range(steps):
        vx += 0.5 * dt * ax
        vy += 0.5 * dt * ay
        x += dt * vx
        y += dt * vy
        r2 = x * x + y * y
        r = math.sqrt(r2)
        ax, ay = -x / (r2 * r), -y / (r2 * r)
        vx += 0.5 * dt * ax
        vy += 0.5 * dt * ay
    return x, y, energy(x, y, vx, vy)


def main():
    x, y, e = orbit(9_000_000, 0.001)
    print(round(x, 6), round(y, 6), round(e, 9))


if __name__ == "__main__":
    main()
