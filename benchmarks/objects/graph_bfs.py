"""Dicts, sets and lists: breadth-first search over a generated graph."""


def make_graph(n):
    graph = {}
    for i in range(n):
        graph[i] = [(i * 7 + 1) % n, (i * 13 + 5) % n, (i + 1) % n]
    return graph


def bfs(graph, start):
    seen = {start}
    frontier = [start]
    depth = 0
    while frontier:
        following = []
        for node in frontier:
            for nxt in graph[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    following.append(nxt)
        frontier = following
        depth += 1
    return depth, len(seen)


def main():
    graph = make_graph(200_000)
    total = 0
    for start in range(0, 40, 4):
        depth, size = bfs(graph, start)
        total += depth * size
    print(total)


if __name__ == "__main__":
    main()
