"""Classes and method calls: a round-robin task scheduler with a run queue."""


class Task:
    def __init__(self, ident, work):
        self.ident = ident
        self.remaining = work
        self.runs = 0

    def step(self, quantum):
        done = quantum if quantum < self.remaining else self.remaining
        self.remaining -= done
        self.runs += 1
        return done

    def finished(self):
        return self.remaining == 0


class Scheduler:
    def __init__(self, quantum):
        self.quantum = quantum
        self.queue = []
        self.clock = 0
        self.completed = 0

    def add(self, task):
        self.queue.append(task)

    def run(self):
        head = 0
        while head < len(self.queue):
            task = self.queue[head]
            head += 1
            self.clock += task.step(self.quantum)
            if task.finished():
                self.completed += 1
            else:
                self.queue.append(task)
        return self.clock


def main():
    total = 0
    for round_ in range(12):
        scheduler = Scheduler(3 + round_ % 6)
        for i in range(20_000):
            scheduler.add(Task(i, (i * 37) % 101 + 1))
        total += scheduler.run() + scheduler.completed
    print(total)


if __name__ == "__main__":
    main()
