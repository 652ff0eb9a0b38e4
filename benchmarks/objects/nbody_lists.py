"""Floats in lists: an n-body simulation over lists of bodies."""


def make_bodies(n):
    bodies = []
    for i in range(n):
        bodies.append([i * 1.5, (i * 7 % 5) * 0.8, (i * 3 % 4) * 1.1, 0.0, 0.0, 0.0, 1.0 + i % 3])
    return bodies


def advance(bodies, dt, steps):
    n = len(bodies)
    for _ in range(steps):
        for i in range(n):
            bi = bodies[i]
            for j in range(i + 1, n):
                bj = bodies[j]
                dx = bi[0] - bj[0]
                dy = bi[1] - bj[1]
                dz = bi[2] - bj[2]
                d2 = dx * dx + dy * dy + dz * dz + 0.01
                mag = dt / (d2 * d2 ** 0.5)
                mi = bi[6] * mag
                mj = bj[6] * mag
                bi[3] -= dx * mj
                bi[4] -= dy * mj
                bi[5] -= dz * mj
                bj[3] += dx * mi
                bj[4] += dy * mi
                bj[5] += dz * mi
        for b in bodies:
            b[0] += dt * b[3]
            b[1] += dt * b[4]
            b[2] += dt * b[5]


def energy(bodies):
    e = 0.0
    for b in bodies:
        e += 0.5 * b[6] * (b[3] * b[3] + b[4] * b[4] + b[5] * b[5])
    return e


def main():
    bodies = make_bodies(12)
    advance(bodies, 0.001, 60_000)
    print(round(energy(bodies), 6))


if __name__ == "__main__":
    main()
