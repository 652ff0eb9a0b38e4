"""Objects: a small vector class with methods, attribute access and instance creation."""


class Vec:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def add(self, other):
        return Vec(self.x + other.x, self.y + other.y, self.z + other.z)

    def scale(self, k):
        return Vec(self.x * k, self.y * k, self.z * k)

    def dot(self, other):
        return self.x * other.x + self.y * other.y + self.z * other.z


def trace(n):
    position = Vec(0.0, 0.0, 0.0)
    velocity = Vec(1.0, 0.5, 0.25)
    gravity = Vec(0.0, -0.001, 0.0)
    total = 0.0
    for _ in range(n):
        velocity = velocity.add(gravity).scale(0.9999)
        position = position.add(velocity)
        total += position.dot(velocity)
    return total


def main():
    print(round(trace(1_800_000), 3))


if __name__ == "__main__":
    main()
