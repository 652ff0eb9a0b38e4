"""Dicts and strings: count the words of a generated text."""


def make_text(n):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    parts = []
    for i in range(n):
        parts.append(words[(i * i + 3 * i) % 8] + str(i % 13))
    return " ".join(parts)


def count(text):
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def main():
    text = make_text(400_000)
    total = {}
    for _ in range(20):
        for word, n in count(text).items():
            total[word] = total.get(word, 0) + n
    best = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    print(len(total), best)


if __name__ == "__main__":
    main()
