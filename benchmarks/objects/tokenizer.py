"""Strings: split source-like text into tokens, character by character."""


def tokenize(text):
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c.isdigit():
            j = i
            while j < n and text[j].isdigit():
                j += 1
            tokens.append(("num", text[i:j]))
            i = j
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(("name", text[i:j]))
            i = j
        else:
            tokens.append(("op", c))
            i += 1
    return tokens


def main():
    line = "total_1 = alpha * (beta + 42) - gamma_2 / 7 ; x_9 = total_1 + 1000\n"
    text = line * 8_000
    kinds = {}
    for _ in range(8):
        for kind, _value in tokenize(text):
            kinds[kind] = kinds.get(kind, 0) + 1
    print(sorted(kinds.items()))


if __name__ == "__main__":
    main()
