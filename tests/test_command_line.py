"""`python -m psyco` behaves like `python`: output, argv, exit codes, errors."""

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys

    def work(n):
        total = 0
        for i in range(n):
            total += i * i % 11
        return total

    def fail(x):
        return 10 // x

    def main():
        print(__name__, sys.argv[1:], work(10000))
        mode = sys.argv[1] if len(sys.argv) > 1 else ""
        if mode == "raise":
            print(fail(0))
        if mode == "exit":
            sys.exit(3)
        if mode == "exitmsg":
            sys.exit("bye")

    if __name__ == "__main__":
        main()
""")


def run(args, cwd, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def run_both(tmp_path, name, text, args=(), options=()):
    """Write `text` to `name` and run it plainly and under `-m psyco`
    (with `options`), both with `args`: both exit 0 with the same output.
    The psyco run."""
    path = tmp_path / name
    path.write_text(text)
    plain = run([str(path), *map(str, args)], tmp_path)
    compiled = run(["-m", "psyco", *options, str(path), *map(str, args)], tmp_path)
    assert compiled.returncode == plain.returncode == 0, compiled.stderr
    assert compiled.stdout == plain.stdout
    return compiled


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize("mode", ["", "raise", "exit", "exitmsg"])
def test_same_as_python(script, mode):
    args = [str(script)] + ([mode] if mode else [])
    plain = run(args, script.parent)
    compiled = run(["-m", "psyco", *args], script.parent)
    assert (compiled.returncode, compiled.stdout, compiled.stderr) == (plain.returncode, plain.stdout, plain.stderr)


@pytest.mark.parametrize("change", ["builtins.len = lambda x: print('len called') or _len(x)", "del builtins.len"])
def test_the_exit_does_not_use_the_builtins_the_program_changed(tmp_path, change):
    path = tmp_path / "prog.py"
    path.write_text(SCRIPT + textwrap.dedent(f"""
        import builtins
        _len = builtins.len
        {change}
    """))
    plain = run([str(path)], tmp_path)
    compiled = run(["-m", "psyco", str(path)], tmp_path)
    assert (compiled.returncode, compiled.stdout, compiled.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_report(script):
    out = run(["-m", "psyco", "--report", str(script)], script.parent)
    assert out.returncode == 0
    assert out.stdout == run([str(script)], script.parent).stdout
    assert "psyco report" in out.stderr and "work" in out.stderr


def test_module_mode(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tool.py").write_text(SCRIPT)
    plain = run(["-m", "pkg.tool", "a", "b"], tmp_path)
    compiled = run(["-m", "psyco", "-m", "pkg.tool", "a", "b"], tmp_path)
    assert compiled.returncode == plain.returncode == 0
    assert compiled.stdout == plain.stdout and "['a', 'b']" in plain.stdout


def test_stats_file(script, tmp_path):
    import os

    stats = tmp_path / "stats.json"
    out = run(["-m", "psyco", str(script)], script.parent, env={**os.environ, "PSYCO_STATS": str(stats)})
    assert out.returncode == 0
    data = json.loads(stats.read_text())
    assert data["versions"] >= 1 and data["functions_compiled"] >= 1
    assert len(data["compile_times_s"]) == data["versions"] and data["startup_s"] > 0


def test_usage(tmp_path):
    out = run(["-m", "psyco"], tmp_path)
    assert out.returncode == 2 and "usage" in out.stderr


ONCE_SCRIPT = textwrap.dedent("""
    import sys

    import psyco

    LINE = sys._getframe().f_lineno

    def step(x):
        return x * 3 % 7

    def few():  # called once by module code, its loops run 12 * 30 times: left to the interpreter
        total = 0
        for i in range(12):
            for j in range(30):
                total += step(i + j)
        return total

    def unknown(n):  # how often its loop runs is not known when compiling
        total = 0
        for i in range(n):
            total += i % 5
        return total

    def per_item(x):  # module code calls it once, through map: many times
        total = 0
        for i in range(x % 4):
            total += i * x
        return total

    def large():  # known, too many iterations: compiled, quick codegen (optimized would not pay)
        total = 0
        for i in range(200_000):
            total += i % 5
        return total

    def huge():  # known, enough iterations for optimized codegen
        total = 0
        for i in range(1_100):
            for j in range(1_000):
                total += j % 5
        return total

    def small(k):  # called from a loop of module code: not once
        total = 0
        for i in range(k):
            total += i * k
        return total

    print(few(), unknown(1000), large(), huge(), sum(map(per_item, range(100))))
    for k in range(5):
        print(small(k))
    short = [step(x) for x in list(range(200))]  # a comprehension module code runs once, 200 items
    long = [step(x) for x in list(range(200_000))]  # ... 200 000 items: compiled
    print(sum(short), sum(long))
    optimized = {r["function"]: [v["optimized"] for v in r["versions"]] for r in psyco.report()}
    names = ("few", "unknown", "large", "huge", "small", "per_item")
    print(sorted((name, optimized.get(name)) for name in names), file=sys.stderr)
    lines = [r["line"] - LINE for r in psyco.report() if r["function"] == "<listcomp>" and r["versions"]]
    print("comprehensions compiled:", lines, file=sys.stderr)
""")


def test_a_function_module_code_calls_once_with_few_iterations_is_left_to_the_interpreter(tmp_path):
    """A function module code calls once, whose loops' constant trip counts
    are known: left to the interpreter if they run sooner than they would
    be compiled, quick codegen up to ONCE_OPTIMIZE_ITERATIONS, then
    optimized.  The same for a comprehension over a list (its length is its
    loop's trip count)."""
    compiled = run_both(tmp_path, "once.py", ONCE_SCRIPT)
    expected = [("few", []), ("huge", [True]), ("large", [False]), ("per_item", [True]), ("small", [True]),
                ("unknown", [True])]
    lines = ONCE_SCRIPT.splitlines()
    long_line = next(i for i, text in enumerate(lines) if text.startswith("long = ["))
    long_line -= lines.index("LINE = sys._getframe().f_lineno")
    assert compiled.stderr.strip().splitlines() == [repr(expected), f"comprehensions compiled: [{long_line}]"]


IN_TURN_SCRIPT = textwrap.dedent("""
    def main():  # three loops of 300 one after another: 900 iterations, not 300 ** 3
        a = b = c = 0
        for i in range(300):
            a += i * 3 % 7
        for i in range(300):
            b += i * 5 % 11
        for i in range(300):
            c += i * 7 % 13
        print(a, b, c)

    main()
""")


def test_loops_one_after_another_add_up_their_iterations(tmp_path):
    """Judging a function called once, the iterations of loops one after
    another are summed (they were multiplied: such a main() was compiled,
    and a long one spent seconds in LLVM to save milliseconds)."""
    compiled = run_both(tmp_path, "in_turn.py", IN_TURN_SCRIPT, options=["--report"])
    assert "main  (" in compiled.stderr.split("not compiled:")[1]
    assert "called once, its loops would run in about" in compiled.stderr


SIZED_SCRIPT = textwrap.dedent("""
    import sys

    import psyco

    def small_body():  # 100 000 iterations of a short body: compiled
        total = 0
        for i in range(100_000):
            total += i * 3 % 7
        return total

    def large_body():  # as many iterations, and much code run once: sooner interpreted
        total = 0
        for i in range(100_000):
            total += i * 3 % 7
    {straight}
        return total

    def over_constants():  # a for over a constant tuple: 3 trips
        total = 0
        for k in (1, 2, 3):
            for i in range(100):
                total += i * k % 7
        return total

    def with_continue():  # 300 trips, not 300 * 300 (a continue jumps back to the loop too)
        total = 0
        for i in range(300):
            if i % 3 == 0:
                continue
            total += i * 3 % 7
        return total

    print(small_body(), large_body(), over_constants(), with_continue())
    compiled = {{r["function"]: bool(r["versions"]) for r in psyco.report()}}
    names = ("small_body", "large_body", "over_constants", "with_continue")
    print(sorted((name, compiled.get(name)) for name in names), file=sys.stderr)
""").format(straight="\n".join(f"    total = (total * {k} + {k}) % 1000003 - {k} // 3" for k in range(300)))


def test_a_function_called_once_is_compiled_only_if_its_loops_outrun_its_compile(tmp_path):
    """Judging a function module code calls once: its loops' known
    iterations (a for over a constant range or a constant tuple) against
    its size.  100 000 iterations of a short loop pay for compiling it; not
    with 300 more lines to compile, which run once."""
    compiled = run_both(tmp_path, "sized.py", SIZED_SCRIPT)
    expected = [("large_body", False), ("over_constants", False), ("small_body", True), ("with_continue", False)]
    assert compiled.stderr.strip() == repr(expected)


BRIEF_SCRIPT = textwrap.dedent("""
    import sys

    import psyco

    def scaled(values, k):
        return [v * k % 7 for v in values]  # over a few items, or many

    def main(size, then):
        values = list(range(size))
        many = list(range(20_000))
        return sum(sum(scaled(values, k)) for k in range(20)) + sum(sum(scaled(many, k)) for k in range(then))

    print(main(int(sys.argv[1]), int(sys.argv[2])))
    print(any(r["function"] == "scaled.<locals>.<listcomp>" and r["versions"] for r in psyco.report()),
          file=sys.stderr)
""")


@pytest.mark.parametrize(("size", "then", "compiled"), [(10, 0, False), (100_000, 0, True), (10, 70, True)])
def test_a_comprehension_over_a_few_items_waits_to_be_compiled(tmp_path, size, then, compiled):
    """A comprehension with loops is compiled at its first call, unless its
    iterator says it has at most BRIEF_ITEMS items: its 20 calls over 10
    items are left to the interpreter; over 100 000 items it is compiled,
    and so it is when calls over many more items follow the brief ones
    (judged again as soon as one asks: the next call, then after doubling
    counts)."""
    assert run_both(tmp_path, "brief.py", BRIEF_SCRIPT, [size, then]).stderr.strip() == str(compiled)


BRIEF_LOOPS_SCRIPT = textwrap.dedent("""
    import sys

    import psyco

    def total(k):
        s = 0
        for x in (1, 2, 3, 4):
            s += x * k % 7
        return s

    print(sum(total(k) for k in range(int(sys.argv[1]))))
    print(any(r["function"] == "total" and r["versions"] for r in psyco.report()), file=sys.stderr)
""")


@pytest.mark.parametrize(("calls", "compiled"), [(50, False), (50_000, True)])
def test_a_function_whose_loops_run_briefly_is_compiled_once_its_calls_pay(tmp_path, calls, compiled):
    """A function with loops is compiled at its first call (it may run
    long), unless its loops are known to run briefly (a for over a
    constant tuple of four items): then once its calls, interpreted, would
    have taken a share of its compile time."""
    assert run_both(tmp_path, "brief_loops.py", BRIEF_LOOPS_SCRIPT, [calls]).stderr.strip() == str(compiled)


GROWING_SCRIPT = textwrap.dedent("""
    import sys

    import psyco
    from psyco.runtime import jit

    judged = []
    compile_version = jit.compile_version

    def counting(entry, *args, **kwargs):
        judged.append(entry.code.co_name)
        return compile_version(entry, *args, **kwargs)

    jit.compile_version = counting
    psyco.full()

    def process(items):
        return sum([x * 3 % 7 for x in items])

    items = []
    total = 0
    for i in range(3000):
        items.append(i)
        total += process(items)
    print(total)
    print(judged.count("<listcomp>"), any(r["function"] == "process.<locals>.<listcomp>" and r["versions"]
                                          for r in psyco.report()), file=sys.stderr)
""")


def test_a_comprehension_over_a_growing_list_is_judged_a_few_times(tmp_path):
    """A comprehension over a few items waits; a call over twice the items
    is judged again at once: over a list growing by one item between calls
    it is judged at most at each doubling (about a dozen times here, not at
    every call), until it is compiled."""
    path = tmp_path / "growing.py"
    path.write_text(GROWING_SCRIPT)
    run_ = run([str(path)], tmp_path)
    assert run_.returncode == 0, run_.stderr
    assert int(run_.stdout) == sum(x * 3 % 7 * (3000 - x) for x in range(3000))
    judged, compiled = run_.stderr.split()
    assert int(judged) <= 12 and compiled == "True", run_.stderr


UNFIXED_SCRIPT = textwrap.dedent("""
    import sys

    import psyco

    def drain(todo):  # its loop grows the list it was passed
        n = 0
        for k in todo:
            if k > 0:
                todo.append(k - 1)
            n += 1
        return n

    def jagged(rows):  # the first row is empty, the others are not
        t = 0
        for row in rows:
            for x in row:
                t += x
        return t

    def over_data(holder):  # an attribute's list
        t = 0
        for x in holder.data:
            t += x
        return t

    class Holder:
        def __init__(self, data):
            self.data = data

    print(drain([50_000]), jagged(((),) + (tuple(range(20_000)),) * 3), over_data(Holder(list(range(50_000)))))
    compiled = {r["function"]: bool(r["versions"]) for r in psyco.report()}
    print(sorted((name, compiled.get(name)) for name in ("drain", "jagged", "over_data")), file=sys.stderr)
""")


def test_loops_whose_length_the_call_may_change_are_compiled_at_the_first_call(tmp_path):
    """Loop trips come only from what the call cannot change (constant
    bounds, an immutable constant, a comprehension's iterator): a list
    argument the loop grows,
    an item's or an attribute's sample say nothing of how long the call
    runs, and the function is compiled at its first call, which may run
    long (each of these was judged brief and left interpreted)."""
    compiled = run_both(tmp_path, "unfixed.py", UNFIXED_SCRIPT)
    assert compiled.stderr.strip() == repr([("drain", True), ("jagged", True), ("over_data", True)])


LLVM_SCRIPT = textwrap.dedent("""
    import sys

    def greet(name):
        return "hello " + name

    def hot(n):
        total = 0
        for i in range(n):
            total += i * i % 7
        return total

    def main(n):
        print(sum(len(greet(str(i))) for i in range(100)), hot(n) if n else 0)
        print("llvmlite" in sys.modules)

    main(int(sys.argv[1]))
""")


@pytest.mark.parametrize(("size", "loaded"), [(0, False), (1_000_000, True)])
def test_llvm_loads_with_the_first_machine_code(tmp_path, size, loaded):
    """A program psyco compiles nothing for does not pay for loading LLVM;
    one with a hot loop compiles it, and gives the same output."""
    path = tmp_path / "llvm.py"
    path.write_text(LLVM_SCRIPT)
    plain = run([str(path), str(size)], tmp_path)
    compiled = run(["-m", "psyco", str(path), str(size)], tmp_path)
    assert compiled.returncode == plain.returncode == 0, compiled.stderr
    assert compiled.stdout.splitlines()[0] == plain.stdout.splitlines()[0]
    assert compiled.stdout.splitlines()[1] == str(loaded)
