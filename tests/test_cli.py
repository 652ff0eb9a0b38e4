"""`python -m psyco` against plain `python`, run in subprocesses.

Each test writes a small program into tmp_path, runs it with plain CPython
and with `python -m psyco`, and compares exit code, stdout and stderr.  The
programs dump psyco.report() at exit into $PSYCO_TEST_REPORT when psyco is
loaded (never under plain python), so the tests can check that the hot
functions really ran compiled.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

import psyco
from psyco import api

ROOT = pathlib.Path(psyco.__file__).resolve().parent.parent

# Appended to the top of every program: writes psyco's report at exit, if psyco runs.
PRELUDE = textwrap.dedent("""
    import atexit as _atexit, os as _os, sys as _sys
    def _dump_psyco_report():
        path = _os.environ.get("PSYCO_TEST_REPORT")
        if path and "psyco" in _sys.modules:
            import json, psyco
            with open(path, "w") as f:
                json.dump(psyco.report(), f)
    _atexit.register(_dump_psyco_report)
""")


def env(**extra: str) -> dict[str, str]:
    """The environment of both runs: psyco importable, nothing else changed."""
    paths = [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    out = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONIOENCODING": "utf-8"}
    for key in ("PSYCO_STATS", "PSYCO_TEST_REPORT", "PSYCO_PERF_MAP"):
        out.pop(key, None)
    out.update(extra)
    return out


def run(args, cwd, *, environ=None, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=str(cwd),
                          env=environ if environ is not None else env(), input=stdin, timeout=120)


def write(path: pathlib.Path, source: str, prelude: bool = True) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((PRELUDE if prelude else "") + textwrap.dedent(source), encoding="utf-8")
    return path


class Both:
    """A program run by python and by python -m psyco, with psyco's report."""

    def __init__(self, tmp_path, args, cwd, *, psyco_options=(), stdin=None, extra_env=None):
        self.report_path = tmp_path / "psyco-report.json"
        if self.report_path.exists():
            self.report_path.unlink()
        self.plain = run(args, cwd, environ=env(**(extra_env or {})), stdin=stdin)
        assert not self.report_path.exists()
        self.psyco = run(["-m", "psyco", *psyco_options, *args], cwd,
                         environ=env(PSYCO_TEST_REPORT=str(self.report_path), **(extra_env or {})), stdin=stdin)

    def outcome(self, which):
        r = getattr(self, which)
        return r.returncode, r.stdout, r.stderr

    def assert_same(self):
        assert self.outcome("psyco") == self.outcome("plain")

    def calls(self, function: str) -> int:
        """Entries into compiled versions of `function` in the psyco run."""
        return sum(v["calls"] for r in self.rows() if r["function"] == function for v in r["versions"])

    def inlined(self, function: str) -> list[str]:
        """The callees inlined into compiled versions of `function`."""
        return [name for r in self.rows() if r["function"] == function for v in r["versions"] for name in v["inlined"]]

    def versions(self, function: str) -> int:
        """Compiled versions of `function` (a compiled caller may call them directly,
        which the `calls` counter of the callee does not count)."""
        return sum(len(r["versions"]) for r in self.rows() if r["function"] == function)

    def rows(self) -> list[dict]:
        assert self.report_path.exists(), f"no report written; psyco stderr:\n{self.psyco.stderr}"
        return json.loads(self.report_path.read_text())


def split_report(stderr: str) -> tuple[str, str]:
    """stderr without the --report table, and the table."""
    assert stderr.count("psyco report\n") == 1, stderr
    start = stderr.index("psyco report\n")
    end = stderr.index("\n", stderr.index("total compile time: ", start)) + 1
    return stderr[:start] + stderr[end:], stderr[start:end]


def parse_report(table: str) -> dict[str, int]:
    """The compiled functions of a --report table and how often each was entered."""
    compiled = table[table.index("compiled:\n") + len("compiled:\n"):table.index("not compiled:")]
    out: dict[str, int] = {}
    current = None
    for line in compiled.splitlines():
        if line.startswith("    ") and current is not None:
            if "entered " in line:
                out[current] += int(line.split("entered ")[1].split("x")[0])
        elif line.startswith("  "):
            current = line.split()[0]
            out.setdefault(current, 0)
    return out


# --- programs -------------------------------------------------------------------------------------
MAIN = """
    import pickle
    import sys

    import sibling


    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y


    def work(n):
        total = 0
        for i in range(n):
            total += i * i % 11
        return total


    def wave(x, n):
        acc = 0.0
        for i in range(n):
            acc = acc * 0.5 + x * i
        return acc


    def main():
        print("name", __name__)
        print("argv", sys.argv[1:])
        print("work", work(20000), wave(0.25, 1000))
        print("sibling", sibling.triple(1000))
        data = sys.stdin.read()
        print("stdin", len(data), work(len(data)))
        main_module = sys.modules["__main__"]
        print("main", main_module.__dict__ is globals(), main_module.work is work)
        point = pickle.loads(pickle.dumps(Point(3, 4)))
        print("pickle", type(point).__module__, type(point).__qualname__, point.x * point.y)
        print("stderr line", file=sys.stderr)


    if __name__ == "__main__":
        main()
    else:
        print("imported, not run")
"""

SIBLING = """
    def triple(n):
        t = 0
        for _ in range(n):
            t += 3
        return t
"""

ARGS = ["a", "--report", "-m", "x y", "", "--", "-h", "é"]


@pytest.fixture
def program(tmp_path):
    directory = tmp_path / "prog"
    write(directory / "sibling.py", SIBLING, prelude=False)
    return write(directory / "main.py", MAIN)


@pytest.mark.parametrize("where", ["absolute path, other cwd", "relative path", "relative path, subdir"])
def test_output_argv_and_name_are_those_of_python(tmp_path, program, where):
    if where == "absolute path, other cwd":
        cwd = tmp_path / "elsewhere"
        cwd.mkdir()
        script = str(program)
    elif where == "relative path":
        cwd, script = program.parent, program.name
    else:
        cwd, script = tmp_path, os.path.join("prog", program.name)
    both = Both(tmp_path, [script, *ARGS], cwd, stdin="some input\n" * 100)
    both.assert_same()
    assert both.plain.returncode == 0 and "name __main__" in both.plain.stdout
    assert f"argv {ARGS!r}" in both.plain.stdout
    assert both.calls("work") > 0 and both.calls("wave") > 0 and both.calls("triple") > 0


FILE_AND_PATH = """
    import os, sys

    def work(n):
        t = 0
        for i in range(n):
            t += i % 3
        return t

    def fail(n):
        return work(n) // (n - n)

    print(__file__, sys.argv[0], sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
    print(fail(100))
"""


@pytest.mark.parametrize("given", ["absolute", "name", "./name", "sub/../name"])
def test_main_file_and_traceback_paths(tmp_path, given):
    # python makes the script's path absolute without normalizing it
    script = write(tmp_path / "paths.py", FILE_AND_PATH)
    (tmp_path / "sub").mkdir()
    path = str(script) if given == "absolute" else given.replace("name", script.name)
    both = Both(tmp_path, [path], tmp_path)
    assert both.plain.returncode == 1 and "ZeroDivisionError" in both.plain.stderr
    assert both.calls("work") > 0
    both.assert_same()


# --- exit codes -----------------------------------------------------------------------------------
EXITS = """
    import sys

    def work(n):
        total = 0
        for i in range(n):
            total += i % 7
        return total

    def leave(n, code):
        total = work(n)
        for i in range(n):
            total -= i % 7
        sys.exit(code if total == 0 else "wrong")

    _atexit.register(print, "atexit handler ran")
    print("before", work(1000))
    mode = sys.argv[1]
    if mode == "int":
        sys.exit(3)
    elif mode == "msg":
        sys.exit("fatal: something")
    elif mode == "none":
        sys.exit()
    elif mode == "true":
        sys.exit(True)
    elif mode == "big":
        sys.exit(300)
    elif mode == "negative":
        sys.exit(-1)
    elif mode == "tuple":
        raise SystemExit(("a", 1))
    elif mode == "compiled":
        leave(100, 7)
    print("after")
"""


@pytest.mark.parametrize("mode", ["normal", "int", "msg", "none", "true", "big", "negative", "tuple", "compiled"])
def test_exit_codes_are_those_of_python(tmp_path, mode):
    script = write(tmp_path / "exits.py", EXITS)
    both = Both(tmp_path, [str(script), mode], tmp_path)
    both.assert_same()
    assert "atexit handler ran" in both.plain.stdout
    assert both.calls("work") > 0
    if mode == "compiled":
        assert both.plain.returncode == 7 and both.calls("leave") > 0


# --- uncaught exceptions --------------------------------------------------------------------------
ERRORS = """
    import sys

    import failing_module  # noqa

    def div(a, b):
        t = 0
        for i in range(a):
            t += i // b
        return t

    def outer(n):
        s = 0
        for i in range(n):
            s += div(i, 1)
        return s + div(n, 0)

    def ratio(x, n):
        acc = 0.0
        for i in range(n):
            acc += x / (n - i - 1)
        return acc

    def chain(n):
        try:
            return outer(n)
        except ZeroDivisionError as exc:
            raise ValueError(f"wrapped ünïcode {n}") from exc

    def lookup(table, n):
        t = 0
        for i in range(n):
            t += table[i % 3]
        return t

    def checked(n):
        t = 0
        for i in range(n):
            t += i
        if t > 100:
            raise RuntimeError("too big: %d" % t)
        return t

    print("start", div(100, 3), flush=False)
    mode = sys.argv[1]
    if mode == "int":
        print(outer(50))
    elif mode == "float":
        print(ratio(0.5, 100))
    elif mode == "chain":
        print(chain(10))
    elif mode == "key":
        print(lookup({0: 1, 1: 2}, 10))
    elif mode == "raise":
        print(checked(5), checked(50))
    elif mode == "import":
        failing_module.go(10)
"""

FAILING_MODULE = """
    def inner(n):
        t = 0
        for i in range(n):
            t += 1 // (n - 1 - i)
        return t

    def go(n):
        total = 0
        for i in range(n):
            total += i
        return total + inner(n)
"""


@pytest.mark.parametrize(("mode", "entered", "compiled"), [
    ("int", ["div", "outer"], []),
    ("float", ["ratio"], []),
    ("chain", [], ["outer"]),
    ("key", [], []),
    ("raise", ["checked"], []),
    ("import", ["go"], ["inner"]),
])
def test_uncaught_exception_output_is_that_of_python(tmp_path, mode, entered, compiled):
    write(tmp_path / "failing_module.py", FAILING_MODULE, prelude=False)
    script = write(tmp_path / "errors.py", ERRORS)
    both = Both(tmp_path, [str(script), mode], tmp_path)
    assert both.plain.returncode == 1 and both.plain.stderr.startswith("Traceback (most recent call last):")
    both.assert_same()
    assert both.calls("div") > 0
    for name in entered:
        assert both.calls(name) > 0, name
    for name in compiled:
        assert both.versions(name) > 0, name


DELETES_BUILTINS = """
    import builtins

    def checked(n):
        total = 0
        for i in range(n):
            total += i
        if total > 100:
            raise ValueError(total)
        return total

    checked(10)
    del builtins.len, builtins.isinstance
    checked(1000)
"""


def test_uncaught_exception_after_the_program_deleted_builtins(tmp_path):
    # the launcher reported it with os.path and os.environ, which call them
    script = write(tmp_path / "deletes.py", DELETES_BUILTINS, prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == 1 and both.plain.stderr.endswith("ValueError: 499500\n")
    both.assert_same()


IMPORTS_BROKEN = """
    import sys, traceback

    def load(name):
        total = 0
        for i in range(len(name)):  # a loop of unknown length: compiled at the first call
            total += i
        try:
            __import__(name)
        except Exception as exc:
            print(name, type(exc).__name__, [entry.name for entry in traceback.extract_tb(exc.__traceback__)])

    load("raising_module")
    import broken_module  # uncaught: the traceback shows the import and the bad line
"""


def test_a_module_failing_to_import_shows_cpythons_traceback(tmp_path):
    """CPython drops importlib's frames from the traceback of an error
    compiling or running an imported module: psyco's loader among them too."""
    write(tmp_path / "raising_module.py", "x = 1\n1 / 0\n", prelude=False)
    write(tmp_path / "broken_module.py", "def f(:\n    pass\n", prelude=False)
    script = write(tmp_path / "imports.py", IMPORTS_BROKEN)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "SyntaxError" in both.plain.stderr and "raising_module ZeroDivisionError" in both.plain.stdout
    both.assert_same()
    assert both.calls("load") > 0


RECURSION = """
    import sys

    def depth(n):
        if n == 0:
            return 0
        return depth(n - 1) + 1

    def loop(n):
        t = 0
        for i in range(n):
            t += depth(i % 5)
        return t

    print(loop(100))
    sys.setrecursionlimit(300)
    print(depth(10_000))
"""


def test_recursion_error_in_compiled_code(tmp_path):
    script = write(tmp_path / "recursion.py", RECURSION)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.psyco.returncode == both.plain.returncode == 1
    assert both.psyco.stdout == both.plain.stdout
    # The traceback is the same up to how many repetitions it folds: psyco's own
    # launcher frames count against the recursion limit.
    def shape(stderr):
        return [line for line in stderr.splitlines() if "Previous line repeated" not in line]

    assert shape(both.psyco.stderr) == shape(both.plain.stderr)
    assert shape(both.plain.stderr)[-1] == "RecursionError: maximum recursion depth exceeded"
    assert both.calls("depth") > 0 and both.calls("loop") > 0


SHADOWING = """
    import string  # the program's string.py, imported before the first compile

    def squares(n):
        total = 0
        for i in range(n):
            total += i * i
        return total

    print(squares(10**5), string.WHOSE)
    import platform, resource  # the program's, imported after it
    import opcode, ctypes  # the program's, though psyco imported them as it started
    import __future__  # the program's, though psyco's package imports it (unless python's start-up did)
    print(platform.WHOSE, resource.WHOSE, opcode.WHOSE, ctypes.WHOSE, getattr(__future__, "WHOSE", "python's"))
"""


@pytest.mark.parametrize("where", ["script directory", "elsewhere"])
def test_program_files_named_as_standard_modules_psyco_imports(tmp_path, where):
    """psyco imports __future__, opcode and ctypes as it starts, and
    platform, resource and string at its first compile (for llvmlite and
    its back end): from the standard library, though the script's directory
    (the current directory too, first on sys.path as `-m` imports psyco's
    package) has files of those names, which the program gets."""
    for name in ("string", "platform", "resource", "opcode", "ctypes", "__future__"):
        write(tmp_path / "app" / f"{name}.py", f'WHOSE = "the program\'s {name}"\n', prelude=False)
    script = write(tmp_path / "app" / "shadowing.py", SHADOWING)
    both = Both(tmp_path, [str(script)], script.parent if where == "script directory" else tmp_path)
    both.assert_same()
    assert "the program's ctypes" in both.plain.stdout
    assert both.calls("squares") > 0


def test_safe_path_keeps_the_programs_directory_off_sys_path(tmp_path):
    """Under -P (and -I) python puts no directory of the program's first on
    sys.path, and neither does psyco."""
    script = write(tmp_path / "app" / "paths.py", "import sys\nprint(sys.path)\n")
    plain = run(["-P", str(script)], tmp_path)
    launched = run(["-P", "-m", "psyco", str(script)], tmp_path)
    assert plain.returncode == 0 and str(script.parent) not in plain.stdout
    assert (launched.returncode, launched.stdout, launched.stderr) == (plain.returncode, plain.stdout, plain.stderr)


IMPORTING_THREAD = """
    import threading, time
    results = []

    def worker():
        import string  # the program's: sleeps, then calls a function with a loop
        results.append(string.X)

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.1)

    def loop(n):
        total = 0
        for i in range(n):
            total += i
        return total

    print(loop(100000))  # the first compile, which imports string (llvmlite)
    thread.join()
    print(results)
"""


def test_a_first_compile_while_another_thread_imports_a_module_it_imports(tmp_path):
    """The thread importing the program's string.py calls a function with a
    loop: it waits for the compile lock, held by the main thread, whose
    first compile waits for string's import: the thread gives up waiting
    after COMPILE_WAIT_SECONDS and runs the function interpreted."""
    write(tmp_path / "string.py", '''
        import time
        time.sleep(0.5)

        def count(n):
            total = 0
            for i in range(n):
                total += i
            return total

        X = count(1000)
    ''', prelude=False)
    script = write(tmp_path / "threads.py", IMPORTING_THREAD)
    both = Both(tmp_path, [str(script)], tmp_path)
    both.assert_same()
    assert both.plain.stdout == "4999950000\n[499500]\n"


LOGGING_FINDER = """
    import sys
    seen = []

    class Logger:
        def find_spec(self, name, path=None, target=None):
            seen.append(name)
            return None

    sys.meta_path.insert(0, Logger())
    import csv
    print(seen)
"""


def test_a_finder_the_program_puts_first_sees_each_import_once(tmp_path):
    script = write(tmp_path / "finder.py", LOGGING_FINDER)
    both = Both(tmp_path, [str(script)], tmp_path)
    both.assert_same()
    assert "'csv'" in both.plain.stdout


SYNTAX_ERROR = """
    def fine(n):
        return n

    x = (
"""


def test_syntax_error_in_the_script(tmp_path):
    script = write(tmp_path / "broken.py", SYNTAX_ERROR)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == 1 and "SyntaxError" in both.plain.stderr
    both.assert_same()


@pytest.mark.parametrize("given", ["absolute", "./name"])
def test_missing_script_exit_code(tmp_path, given):
    path = str(tmp_path / "no_such_script.py") if given == "absolute" else "./no_such_script.py"
    both = Both(tmp_path, [path], tmp_path)
    assert both.plain.returncode == 2 and "can't open file" in both.plain.stderr
    both.assert_same()


SYS_PATH_0 = """
    import sys
    print(__file__, sys.argv[0], sys.path[0])
"""


def test_a_script_reached_by_a_symbolic_link_imports_from_its_files_directory(tmp_path):
    script = write(tmp_path / "real" / "shown.py", SYS_PATH_0, prelude=False)
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "link.py").symlink_to(script)
    both = Both(tmp_path, ["links/link.py"], tmp_path)
    assert both.plain.stdout.split()[2] == str(tmp_path / "real")
    both.assert_same()


UNCAUGHT_REPORTING = {
    "hook raises": """
        import sys
        def hook(kind, value, tb):
            raise RuntimeError("hook broke")
        sys.excepthook = hook
        raise ValueError("original")
    """,
    "hook deleted": """
        import sys
        del sys.excepthook
        raise ValueError("original")
    """,
    "hook deleted, display replaced": """
        import sys
        del sys.excepthook
        sys.__excepthook__ = lambda *args: print("the program's display")
        raise ValueError("original")
    """,
    "hook None": """
        import sys
        sys.excepthook = None
        raise ValueError("original")
    """,
    "hook sees no exception handled": """
        import sys, traceback
        def hook(kind, value, tb):
            print("handling", sys.exc_info()[0], sys.last_value, file=sys.stderr)
            traceback.print_exc()
        sys.excepthook = hook
        raise ValueError("original")
    """,
    "stdout None": """
        import sys
        sys.stdout = None
        raise ValueError("original")
    """,
    "stdout closed": """
        import sys
        print("written")
        sys.stdout.close()
        raise ValueError("original")
    """,
    "os.path replaced": """
        import os
        os.path = None
        raise ValueError("original")
    """,
}


AUDITED = """
    import sys

    seen = set()

    def hook(event, args):
        seen.add(event)
        if event == "sys.excepthook":
            raise ValueError("the audit hook refuses")

    def work(n):
        total = 0
        for i in range(n):
            total += i % 7
        return total

    sys.addaudithook(hook)
    print(work(100000), sorted(e for e in seen if e.startswith("sys.excepthook")))
    sys._getframe()
    print("sys._getframe" in seen)
    raise KeyError("original")
"""


def test_a_program_with_an_audit_hook_psyco_took_over(tmp_path):
    # psyco's sys._getframe() called the hook, which called psyco...: endless
    script = write(tmp_path / "audited.py", AUDITED, prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == 1 and "Exception ignored in audit hook" in both.plain.stderr
    both.assert_same()


CTYPES_REFUSED = """
    import sys

    def refuse_ctypes(event, args):
        if event.startswith("ctypes."):
            raise PermissionError(f"no {event} here")

    class Cell:
        def __init__(self, value):
            self.value = value

    def total(cells):
        t = 0
        for c in cells:
            t += c.value
        return t

    def halve(x):
        return x // 2 if x % 2 == 0 else 3 * x + 1

    sys.addaudithook(refuse_ctypes)
    cells = [Cell(i) for i in range(1000)]
    print(total(cells), total(cells[:10] + [Cell(2.5)]), total([Cell(2**70), Cell(1)]))
    print(sum(halve(i) for i in range(30000)))
"""


def test_a_program_whose_audit_hook_refuses_ctypes(tmp_path):
    # psyco's own ctypes calls (reading memory, changing a code object's
    # constants) called the hook, which psyco had taken over and so called
    # psyco again: endless; now psyco reads memory without audit events and
    # the program's code that psyco's work runs is interpreted
    script = write(tmp_path / "refusing.py", CTYPES_REFUSED, prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == 0
    both.assert_same()


@pytest.mark.parametrize("case", UNCAUGHT_REPORTING)
def test_uncaught_exception_reported_as_python_reports_it(tmp_path, case):
    # the launcher once failed itself, or printed what python does not
    script = write(tmp_path / "uncaught.py", UNCAUGHT_REPORTING[case], prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == 1 and "original" in both.plain.stderr
    both.assert_same()


WARNS = """
    import warnings

    def noisy(n):
        t = 0
        for i in range(n):
            t += i
        warnings.warn("total %d" % t)
        return t

    print(noisy(10), noisy(20))
"""


def test_warnings_from_compiled_code_print_like_python(tmp_path):
    script = write(tmp_path / "warns.py", WARNS)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "UserWarning: total 45" in both.plain.stderr
    assert both.calls("noisy") > 0
    both.assert_same()


# A helper compiled for direct calls from a compiled loop warns and logs with
# its own file, line and function name.
WARNS_IN_HELPER = """
    import logging, warnings
    logging.basicConfig(format="%(filename)s:%(lineno)d %(funcName)s %(message)s")
    log = logging.getLogger("helper")

    def helper(v):
        spare = 0
        for k in range(3):  # native work: compiling pays
            spare += k * v
        if v > 6:
            warnings.warn("big %d" % v)
            logging.warning("module function %d", v)
            log.warning("logger method %d", v)
        return v + 1 + spare - spare

    def loop(n):
        total = 0
        for i in range(n):
            total += helper(i)
        return total

    print(loop(8), loop(9))
"""


def test_warnings_and_logging_in_a_helper_called_by_compiled_code(tmp_path):
    script = write(tmp_path / "helper_warns.py", WARNS_IN_HELPER)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "helper module function 7" in both.plain.stderr
    assert both.versions("helper") > 0 and both.calls("loop") > 0
    both.assert_same()


# The script's own __future__ imports, not those of psyco's runner.
ANNOTATIONS = """
    def annotated(x: int) -> list:
        y: float = 1.0
        return [x, y]

    class Point:
        x: int
        y: "str"

    def work(n):  # with a loop: compiled at its first call
        found = None
        for i in range(n):
            def inner(a: dict) -> set:
                return set(a)
            found = inner.__annotations__ if i % 2 == 0 else found
        return found

    print(annotated.__annotations__, Point.__annotations__, work(3), work(4))
"""


def test_annotations_are_evaluated_as_the_script_says(tmp_path):
    script = write(tmp_path / "annotated.py", ANNOTATIONS)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "<class 'int'>" in both.plain.stdout
    assert both.calls("work") > 0
    both.assert_same()


# The script's module globals are those python's runner sets (linecache reads
# the source through __loader__).
MAIN_GLOBALS = """
    import linecache
    print(type(__loader__).__name__, __loader__.name, __spec__, __package__, __cached__)
    print(sorted(k for k in globals() if k.startswith("__") and k != "__warningregistry__"))
    print(linecache.lazycache("fake name", globals()), linecache.getline("fake name", 2))
"""


def test_main_module_globals_are_those_of_python(tmp_path):
    script = write(tmp_path / "main_globals.py", MAIN_GLOBALS, prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "SourceFileLoader __main__" in both.plain.stdout
    both.assert_same()


# Builtins that read the calling frame: the functions calling them run
# interpreted (reason in the report), with their real variables.
FRAME_READERS = """
    import sys

    def reads(n):
        total = 0
        for i in range(n):
            total += i
        unused = total * 2
        return sorted(locals()), eval("total + 1"), sorted(vars()), dir(), sys._getframe().f_code.co_name

    def evaluates(n):
        x = n
        for i in range(3):
            x += i
        exec("x = 0")
        return globals()["__name__"], eval("x"), x

    def caller(n):
        out = []
        for i in range(n):
            out.append(reads(i))
        return out

    print(reads(4), reads(5), evaluates(1), evaluates(2), caller(3)[-1])
    # given back to the interpreter with its own code object
    print(reads.__code__.co_stacksize, len(reads.__code__.co_code), len(reads.__code__.co_consts))
"""


def test_functions_calling_frame_readers_run_interpreted(tmp_path):
    script = write(tmp_path / "frames.py", FRAME_READERS)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "'unused'" in both.plain.stdout
    both.assert_same()
    reasons = {r["function"]: r["not_compiled"] for r in both.rows() if r["not_compiled"]}
    assert "reads the frame" in str(reasons.get("reads")), reasons
    assert "reads the frame" in str(reasons.get("evaluates")), reasons
    assert both.calls("caller") > 0


# pdb.set_trace() in a function psyco would compile: the debugger stops at
# the function's next line and sees its variables (before, compiled code ran
# on: no line, NameError for the locals).
DEBUGGED = """
    import io, pdb, sys

    def work(n):
        total = 0
        for i in range(n):
            total += i
        STOP
        total += 1
        return total

    sys.stdin = io.StringIO("p total\\nn\\np total\\nc\\n")
    print(work(5))
"""


@pytest.mark.parametrize("stop", ["pdb.set_trace()", "pdb.Pdb(nosigint=True).set_trace()", "breakpoint()"])
def test_pdb_set_trace_in_a_function_stops_there(tmp_path, stop):
    script = write(tmp_path / "debugged.py", DEBUGGED.replace("STOP", stop))
    both = Both(tmp_path, [str(script)], tmp_path)
    assert "-> total += 1" in both.plain.stdout
    both.assert_same()
    reasons = {r["function"]: r["not_compiled"] for r in both.rows() if r["not_compiled"]}
    assert "reads the frame" in str(reasons.get("work")), reasons


# More than 255 constants: the trampoline loads its dispatcher with EXTENDED_ARG
# (without it, the program stopped with a ValueError at the def).
MANY_CONSTANTS = "def table(n):\n    t = 0\n    for i in range(n):\n        t += i\n" + "".join(
    f"    t += {i}.5\n" for i in range(300)) + "    return t\n\nprint(table(10), table(20))\n"


def test_functions_with_many_constants(tmp_path):
    script = write(tmp_path / "constants.py", MANY_CONSTANTS)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == 0
    assert both.calls("table") > 0
    both.assert_same()


# --- Ctrl-C -----------------------------------------------------------------------------------------
INTERRUPTED = """
    import sys

    def work(n):
        total = 0
        for i in range(n):
            total += i % 7
        return total

    _atexit.register(print, "atexit handler ran")
    print("before", work(1000))
    raise KeyboardInterrupt
"""


def test_uncaught_keyboard_interrupt_kills_like_python(tmp_path):
    script = write(tmp_path / "interrupted.py", INTERRUPTED)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == -signal.SIGINT
    assert both.psyco.returncode == both.plain.returncode
    assert both.psyco.stderr == both.plain.stderr
    assert both.psyco.stdout.startswith("before ")


INTERRUPTED_WITH_A_THREAD = """
    import atexit, threading, time

    def work():
        time.sleep(0.3)
        print("worker finished", flush=True)

    atexit.register(print, "atexit handler ran")
    threading.Thread(target=work).start()
    raise KeyboardInterrupt
"""


def test_uncaught_keyboard_interrupt_waits_for_threads_then_runs_atexit_handlers(tmp_path):
    script = write(tmp_path / "interrupted.py", INTERRUPTED_WITH_A_THREAD, prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.stdout == "worker finished\natexit handler ran\n"
    assert both.plain.returncode == -signal.SIGINT
    both.assert_same()


INTERRUPTED_THEN_FINALIZED = """
    import sys

    class Noisy:
        def __del__(self):
            sys.stdout.write("finalized\\n")

    class Cancelled(KeyboardInterrupt):
        pass

    keep = Noisy()
    log = open("log.txt", "w")
    log.write("written before the interrupt\\n")  # flushed as python finalizes
    raise Cancelled("a subclass: exit 1") if sys.argv[1:] == ["subclass"] else KeyboardInterrupt
"""


@pytest.mark.parametrize("mode", ["interrupt", "subclass"])
def test_after_an_uncaught_keyboard_interrupt_python_finalizes(tmp_path, mode):
    script = write(tmp_path / "finalized.py", INTERRUPTED_THEN_FINALIZED, prelude=False)
    logs = []
    for psyco_run in (False, True):
        run(["-m", "psyco"] * psyco_run + [str(script), mode], tmp_path)
        logs.append((tmp_path / "log.txt").read_text())
    both = Both(tmp_path, [str(script), mode], tmp_path)
    assert both.plain.returncode == (1 if mode == "subclass" else -signal.SIGINT)
    assert both.plain.stdout == "finalized\n" and logs == ["written before the interrupt\n"] * 2
    both.assert_same()


def test_uncaught_keyboard_interrupt_runs_atexit_handlers(tmp_path):
    script = write(tmp_path / "interrupted.py", INTERRUPTED)
    stats = tmp_path / "stats.json"
    both = Both(tmp_path, [str(script)], tmp_path, extra_env={"PSYCO_STATS": str(stats)})
    assert "atexit handler ran" in both.plain.stdout
    assert both.psyco.stdout == both.plain.stdout
    assert both.calls("work") > 0
    assert stats.exists()


# --- --report, --profile ------------------------------------------------------------------------
def test_report_goes_to_stderr_and_stdout_is_unchanged(tmp_path, program):
    both = Both(tmp_path, [str(program), "r"], tmp_path, psyco_options=["--report"], stdin="xyz")
    assert both.psyco.returncode == both.plain.returncode == 0
    assert both.psyco.stdout == both.plain.stdout
    # The program's own stderr comes first, then the report.
    rest, table = split_report(both.psyco.stderr)
    assert rest == both.plain.stderr and both.psyco.stderr.endswith(table)
    entered = parse_report(table)
    for name in ("work", "wave", "triple"):
        assert entered.get(name, 0) > 0, (name, both.psyco.stderr)
        assert both.calls(name) == entered[name]
    assert "total compile time:" in both.psyco.stderr
    assert "LLVM loaded in " in table  # with the first machine code, apart from the compile times


GENERATORS = """
    import asyncio

    def pairs(n):
        for i in range(n):
            yield i, i * i

    async def later(x):
        return x + 1

    def use(n):
        return sum(b for _, b in pairs(n)), asyncio.run(later(n))

    print(use(10), use(20))
"""


def test_report_lists_generators_and_coroutines_as_not_compiled(tmp_path):
    script = write(tmp_path / "generators.py", GENERATORS)
    both = Both(tmp_path, [str(script)], tmp_path, psyco_options=["--report"])
    assert both.psyco.returncode == both.plain.returncode == 0
    assert both.psyco.stdout == both.plain.stdout
    _, table = split_report(both.psyco.stderr)
    not_compiled = table[table.index("not compiled:"):]
    for name in ("pairs", "later", "use.<locals>.<genexpr>"):
        assert f"  {name}  ({script}:" in not_compiled, table
    rows = {r["function"]: r for r in both.rows()}
    assert rows["pairs"]["called"] is None and not rows["pairs"]["versions"]
    assert "generator" in rows["later"]["not_compiled"]


def test_report_after_an_exception_and_an_exit(tmp_path):
    write(tmp_path / "failing_module.py", FAILING_MODULE, prelude=False)
    script = write(tmp_path / "errors.py", ERRORS)
    both = Both(tmp_path, [str(script), "int"], tmp_path, psyco_options=["--report"])
    assert both.psyco.returncode == both.plain.returncode == 1
    assert both.psyco.stdout == both.plain.stdout
    rest, table = split_report(both.psyco.stderr)
    assert rest == both.plain.stderr and both.psyco.stderr.endswith(table)  # after the traceback
    assert {"div", "outer"} <= set(parse_report(table))

    script = write(tmp_path / "exits.py", EXITS)
    both = Both(tmp_path, [str(script), "msg"], tmp_path, psyco_options=["--report"])
    assert both.psyco.returncode == both.plain.returncode == 1
    assert both.psyco.stdout == both.plain.stdout
    rest, table = split_report(both.psyco.stderr)
    assert rest == both.plain.stderr  # the exit message itself is printed at interpreter exit
    assert parse_report(table)["work"] > 0


def test_profile_option_gives_the_same_output(tmp_path, program):
    both = Both(tmp_path, [str(program), "p", "q"], tmp_path, psyco_options=["--profile"], stdin="abc\n" * 10)
    both.assert_same()


PROFILED = """
    def small(x):
        return x * 3 + 1

    def driver(n):
        t = 0
        for i in range(n):
            t += small(i)
        return t

    print([driver(200) for _ in range(50)][-1])
"""


def test_profile_compiles_functions_called_often(tmp_path):
    script = write(tmp_path / "profiled.py", PROFILED)
    both = Both(tmp_path, [str(script)], tmp_path, psyco_options=["--profile"])
    both.assert_same()
    assert both.calls("driver") > 0


# --- -m module ------------------------------------------------------------------------------------
TOOL = """
    import sys

    def work(n):
        total = 0
        for i in range(n):
            total += i * i % 13
        return total

    def main():
        print(__name__, __package__, sys.argv[1:], sys.argv[0].endswith("tool.py"))
        print(work(5000))
        if sys.argv[1:2] == ["fail"]:
            print(work(10) // (work(3) - work(3)))
        if sys.argv[1:2] == ["exit"]:
            sys.exit(work(10) % 7 + 2)

    if __name__ == "__main__":
        main()
"""

PKG_MAIN = """
    import sys

    from pkg import helper

    print(__name__, __package__, sys.argv[1:])
    print(helper.f(1000))
"""

HELPER = """
    def f(n):
        t = 0
        for i in range(n):
            t += i ^ 5
        return t
"""


@pytest.fixture
def modules(tmp_path):
    top = tmp_path / "mods"
    write(top / "tool.py", TOOL)
    write(top / "pkg" / "__init__.py", "")
    write(top / "pkg" / "__main__.py", PKG_MAIN)
    write(top / "pkg" / "helper.py", HELPER)
    write(top / "pkg" / "tool.py", TOOL)
    return top


@pytest.mark.parametrize("module", ["tool", "pkg.tool", "pkg"])
@pytest.mark.parametrize("found_by", ["cwd", "PYTHONPATH"])
def test_module_mode_is_that_of_python(tmp_path, modules, module, found_by):
    if found_by == "cwd":
        cwd, extra = modules, {}
    else:
        cwd = tmp_path / "elsewhere"
        cwd.mkdir()
        extra = {"PYTHONPATH": os.pathsep.join([str(modules), str(ROOT)])}
    args = ["-m", module, "one", "two words", "--report"]
    both = Both(tmp_path, args, cwd, extra_env=extra)
    both.assert_same()
    assert both.plain.returncode == 0 and "['one', 'two words', '--report']" in both.plain.stdout
    if module == "pkg":
        assert both.plain.stdout.startswith("__main__ pkg ")
        assert both.calls("f") > 0
    else:
        assert both.calls("work") > 0


def test_module_mode_exit_code(tmp_path, modules):
    both = Both(tmp_path, ["-m", "tool", "exit"], modules)
    both.assert_same()
    assert both.plain.returncode not in (0, 1)
    assert both.calls("work") > 0


def test_module_mode_exception(tmp_path, modules):
    both = Both(tmp_path, ["-m", "pkg.tool", "fail"], modules)
    assert both.psyco.returncode == both.plain.returncode == 1
    assert both.psyco.stdout == both.plain.stdout
    # python -m shows runpy's two frozen frames at the top; psyco promises
    # the traceback of the program's own frames.
    plain_lines = [line for line in both.plain.stderr.splitlines(True) if "<frozen runpy>" not in line]
    assert both.psyco.stderr == "".join(plain_lines)
    assert "ZeroDivisionError" in both.plain.stderr
    assert both.calls("work") > 0


# --- PSYCO_STATS ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["program", "exit", "exception"])
def test_stats_file(tmp_path, program, mode):
    stats = tmp_path / "stats.json"
    if mode == "program":
        args = [str(program), "s"]
    elif mode == "exit":
        args = [str(write(tmp_path / "exits.py", EXITS)), "int"]
    else:
        write(tmp_path / "failing_module.py", FAILING_MODULE, prelude=False)
        args = [str(write(tmp_path / "errors.py", ERRORS)), "int"]
    both = Both(tmp_path, args, tmp_path, stdin="", extra_env={"PSYCO_STATS": str(stats)})
    both.assert_same()
    data = json.loads(stats.read_text())
    assert set(data) == {"compile_time_s", "versions", "functions_compiled", "compile_times_s", "startup_s",
                         "llvm_load_s"}
    rows = json.loads(both.report_path.read_text())
    versions = [v for r in rows for v in r["versions"]]
    assert data["versions"] == len(versions) == len(data["compile_times_s"]) >= 1
    assert data["functions_compiled"] == sum(1 for r in rows if r["versions"]) >= 1
    assert all(isinstance(t, float) and t > 0 for t in data["compile_times_s"])
    assert data["compile_time_s"] == pytest.approx(sum(data["compile_times_s"]))
    assert data["compile_time_s"] == pytest.approx(sum(v["compile_ms"] for v in versions) / 1000, abs=1e-3)
    assert 0 < data["startup_s"] < 30
    assert 0 < data["llvm_load_s"] < 30  # loaded with the first machine code, apart from any compile


# --- PSYCO_PERF_MAP -------------------------------------------------------------------------------
PERF_MAPPED = """
    import os

    def squares(n):
        total = 0
        for i in range(n):
            total += i * i
        return total

    print(os.getpid(), squares(10**5))
"""


def test_perf_map_names_the_machine_code_of_each_compiled_function(tmp_path):
    script = write(tmp_path / "mapped.py", PERF_MAPPED)
    both = Both(tmp_path, [str(script)], tmp_path, extra_env={"PSYCO_PERF_MAP": "1"})
    pid, result = both.psyco.stdout.split()
    assert result == both.plain.stdout.split()[1] and both.calls("squares") > 0
    perf_map = pathlib.Path(f"/tmp/perf-{pid}.map")
    try:
        lines = perf_map.read_text().splitlines()
    finally:
        perf_map.unlink()
    functions = sorted((int(start, 16), int(size, 16), name)
                       for start, size, name in (line.split(" ", 2) for line in lines))
    assert any(name.startswith("psyco:squares(Int) ") for _, _, name in functions), lines
    assert any(name.startswith("psyco:dispatcher ") for _, _, name in functions), lines
    assert all(size > 0 for _, size, _ in functions)
    assert all(start + size <= after for (start, size, _), (after, _, _) in zip(functions, functions[1:]))


# --- usage ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [[], ["-m"], ["--report"], ["--profile", "--report"], ["--bogus", "x.py"]])
def test_usage_errors_exit_2(tmp_path, args):
    out = run(["-m", "psyco", *args], tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    assert "usage: python -m psyco" in out.stderr
    if args and args[0] == "--bogus":
        assert "--bogus" in out.stderr


def test_help(tmp_path):
    out = run(["-m", "psyco", "--help"], tmp_path)
    assert out.returncode == 0 and out.stderr == ""
    assert "usage: python -m psyco" in out.stdout and "PSYCO_STATS" in out.stdout


GENERIC_CALLEE = """
    class Queue:
        def __init__(self):
            self.items = []

        def add(self, item):
            self.items.append(item)  # mostly generic: not worth compiling on its own


    def fill(n):
        q = Queue()
        for i in range(n):
            q.add(i * 2)
        return len(q.items)


    print(fill(5000))
"""


def test_a_compiled_loop_calls_a_generic_callee_directly(tmp_path):
    """From compiled code a direct call beats the way through the callee's
    trampoline, so a callee the interpreter would run as fast is compiled
    for it anyway."""
    both = Both(tmp_path, [str(write(tmp_path / "generic_callee.py", GENERIC_CALLEE))], tmp_path)
    both.assert_same()
    assert both.versions("Queue.add") == 1 and both.calls("Queue.add") == 0  # entered only directly
    assert both.calls("fill") == 1


CYCLES = """
    import gc


    class Node:
        def __init__(self, number):
            self.number, self.other = number, None

        def __del__(self):
            if self.number < 3:
                print("freed", self.number)


    def make_cycles(n):  # a loop of native work: compiled, Node.__init__ with it
        total = 0
        for i in range(n):
            a, b = Node(i), Node(i + 1000)
            a.other, b.other = b, a
            total += i * i % 7
        return total


    print(make_cycles(10_000))
    print("collected", gc.collect() > 0)
    print("tracked", any(isinstance(o, Node) for o in gc.get_objects()))
    keep = Node(-1)
    print("tracked", any(isinstance(o, Node) for o in gc.get_objects()))
    del keep
"""


def test_the_programs_cycles_are_collected_as_under_python(tmp_path):
    """psyco's own objects are frozen out of the collector's sight before
    the program starts; the program's garbage is collected as usual (in
    which order the collector finalizes cycles is its own business: psyco's
    allocations make it collect at other times)."""
    both = Both(tmp_path, [str(write(tmp_path / "cycles.py", CYCLES))], tmp_path)
    assert both.psyco.returncode == both.plain.returncode == 0
    assert sorted(both.psyco.stdout.splitlines()) == sorted(both.plain.stdout.splitlines())
    assert both.psyco.stdout.count("freed") == 4 and "tracked True" in both.psyco.stdout
    compiled = next(r for r in both.rows() if r["function"] == "make_cycles")["versions"]
    assert both.calls("make_cycles") == 1 and "Node.__init__" in compiled[0]["inlined"]


CALL_COUNTS = """
    from psyco.runtime.jit import LOOP_FREE_CALLS, LOOP_FREE_PAYBACK


    def rare(x):
        return x + 1


    def often(x):
        return x * 3 - x // 2 + 1


    def same(x):
        return x


    def frequent(x):
        return x * 5 - x // 3 + 2


    def looping(n):
        t = 0
        for i in range(n):
            t += i
        return t


    print(rare(1), rare(2), rare(3), sum(map(often, range(LOOP_FREE_CALLS + 10))),
          sum(map(same, range(LOOP_FREE_CALLS))), sum(map(frequent, range(LOOP_FREE_PAYBACK + 10))), looping(5))
"""


def test_full_compiles_loops_at_their_first_call_and_other_functions_once_called_often(tmp_path):
    both = Both(tmp_path, [str(write(tmp_path / "counts.py", CALL_COUNTS))], tmp_path)
    both.assert_same()
    assert both.versions("looping") == 1 and both.calls("looping") == 1
    assert both.versions("frequent") == 1 and both.versions("rare") == 0
    assert both.calls("frequent") > 1000  # the interpreter's calls enter it: it keeps its trampoline
    # Called often, but its one native operation wins back a compile only
    # after LOOP_FREE_PAYBACK calls; the report says so, and what it cost.
    often = next(r for r in both.rows() if r["function"] == "often")
    assert not often["versions"] and "wins back compiling after about" in often["not_compiled"]
    assert often["refused_ms"] > 0
    # No more native work than entering costs: nothing to wait for.
    assert "little native work (0)" in next(r for r in both.rows() if r["function"] == "same")["not_compiled"]


DEFERRED_FOR_A_REFUSED_CALLER = """
    def leaves(n, depth):
        if n > 1:
            return leaves(n - 1, depth + 1) + leaves(n - 2, depth + 1)
        return depth


    def main():
        total = 0
        for i in range(3):
            total += leaves(14 + i, 0)
        print(total)


    main()
"""


def test_a_callee_compiled_for_a_refused_caller_runs_compiled_from_the_interpreters_first_call(tmp_path):
    """main() runs once and briefly: refused, after leaves() was compiled
    for its direct calls.  Its machine code is made at the interpreter's
    first call (only LLVM remained to do), not after LOOP_FREE_CALLS calls
    of an interpreted recursion."""
    both = Both(tmp_path, [str(write(tmp_path / "refused_caller.py", DEFERRED_FOR_A_REFUSED_CALLER))], tmp_path)
    both.assert_same()
    assert both.versions("main") == 0 and both.calls("leaves") == 3


COLD_SITES = """
    class Grid:
        def __init__(self, size):
            self.size = size
            self.total = 0


    def step(x, size):
        return (x * 7 + 3) % size


    def main():
        total = 0
        for rounds in range(4):
            grid = Grid(50 + rounds)  # four calls: Grid.__init__ is not compiled for them
            x = 0
            for i in range(20_000):
                x = step(x, grid.size)  # 80000 calls: step is compiled for them
                total += x
        print(total)


    main()
"""


def test_a_function_called_once_does_not_compile_callees_it_calls_a_few_times(tmp_path):
    both = Both(tmp_path, [str(write(tmp_path / "cold_sites.py", COLD_SITES))], tmp_path)
    both.assert_same()
    assert both.versions("main") == 1 and both.inlined("main") == ["step"]  # specialized into main
    assert both.versions("Grid.__init__") == 0


OVER_BUDGET = """
    import psyco.runtime.jit

    psyco.runtime.jit.FREE_COMPILES, psyco.runtime.jit.COMPILE_SHARE = 0, 0.0  # no compile time to spend


    def looping(n):
        t = 0
        for i in range(n):
            t += i
        return t


    print(sum(looping(k % 7) for k in range(100)))
    psyco.runtime.jit.FREE_COMPILES = 1000  # the budget grows back: a later call compiles it
    print(sum(looping(k % 7) for k in range(200)))
"""


def test_past_its_compile_budget_full_waits_for_more_calls(tmp_path):
    """Each time a function due for compiling finds the budget spent, it
    waits for as many calls again as it has had."""
    both = Both(tmp_path, [str(write(tmp_path / "budget.py", OVER_BUDGET))], tmp_path)
    both.assert_same()
    # Over budget, call 1 waits 1 call, call 3 waits 3, then 7, 15, 31, 63:
    # calls 64-126 run interpreted, 127 compiles it.
    assert both.versions("looping") == 1 and both.calls("looping") == 300 - 126


NESTED_OVER_BUDGET = """
    import psyco.runtime.jit

    psyco.runtime.jit.FREE_COMPILES, psyco.runtime.jit.COMPILE_SHARE = 0, 1e-6  # spent once a compile starts


    def helper(x):
        return x * 3 + 1


    def caller(n):
        t = 0
        for i in range(n):
            t += helper(i)
        return t


    print(caller(100), caller(50))
"""


def test_a_compile_under_way_counts_against_the_budget_its_callees_are_called_generically(tmp_path):
    both = Both(tmp_path, [str(write(tmp_path / "nested.py", NESTED_OVER_BUDGET))], tmp_path)
    both.assert_same()
    assert both.versions("caller") == 1 and both.versions("helper") == 0


GENERIC_CALL_TREE = """
    def label(word, tag):
        return "<" + word + "|" + tag + "|" + word + tag + ">" + word * 2 + tag[1:] + word[:1]


    def labels(words, n):
        out = []
        for i in range(n):
            out.append(label(words[i % 3], words[i % 2]))
        return len(out), out[-1]


    print(labels(["ab", "cd", "ef"], 3000))
"""


def test_whether_compiling_pays_is_judged_on_the_whole_call_tree(tmp_path):
    """labels() alone computes on ints, but the callee it would call
    directly is all string concatenation: the tree is mostly generic, so
    neither is compiled, and the callee, specialized along with it, gets
    no code (its interpreted calls drop that version: too few of them to
    compile another)."""
    both = Both(tmp_path, [str(write(tmp_path / "tree.py", GENERIC_CALL_TREE))], tmp_path)
    both.assert_same()
    rows = {r["function"]: r for r in both.rows()}
    assert not rows["labels"]["versions"] and "mostly generic" in rows["labels"]["not_compiled"]
    assert rows["label"]["called"] and not any(v["lowered"] for v in rows["label"]["versions"])


COPIED_ONLY = """
    import psyco.inlining

    psyco.inlining.MAX_DEPTH = 0  # nothing specialized into its callers: LLVM copies the body


    class Node:
        def __init__(self, value):
            self.value = value


    def build(n):
        total = 0
        for i in range(n):
            total += Node(i).value
        return total


    print(build(3000))
    print(sum(Node(i).value for i in range(3000)))
"""


def test_a_version_only_its_callers_copy_stays_in_the_report(tmp_path):
    """build() copies Node.__init__'s body; the interpreter's calls of
    __init__ would not pay for machine code of its own (no loops, little
    native work), so the dispatcher never enters that version: the report
    still lists it, copied into its caller."""
    both = Both(tmp_path, [str(write(tmp_path / "copied.py", COPIED_ONLY))], tmp_path)
    both.assert_same()
    rows = {r["function"]: r for r in both.rows()}
    assert rows["build"]["versions"][0]["inlined"] == ["Node.__init__"]
    init = rows["Node.__init__"]["versions"]
    assert len(init) == 1 and init[0]["lowered"] and not init[0]["machine_code"] and init[0]["calls"] == 0
    compiled = api.format_report(both.rows()).split("not compiled:")[0]
    assert "Node.__init__" in compiled and "only copied into its callers" in compiled


NATIVE_ARGUMENT_CALLEE = """
    from psyco.runtime.jit import LOOP_FREE_CALLS


    def digits(n):
        return str(n) + "-" + str(n * 2) + "-" + str(n * 3)


    def collect(k):
        out = []
        for i in range(k):
            out.append(digits(i))
        return len(out)


    print(collect(3000))
    print(sum(len(digits(i)) for i in range(LOOP_FREE_CALLS + 1000)))
"""


def test_a_callee_judged_for_native_arguments_is_not_judged_again_for_the_interpreter(tmp_path):
    """collect() and digits(Int), specialized with it, are mostly generic:
    the interpreter's calls of digits with an int would be specialized the
    same way, samples or not, so they are refused without specializing
    digits again (nothing spent on refused compiles)."""
    both = Both(tmp_path, [str(write(tmp_path / "native_callee.py", NATIVE_ARGUMENT_CALLEE))], tmp_path)
    both.assert_same()
    rows = {r["function"]: r for r in both.rows()}
    assert "mostly generic" in rows["collect"]["not_compiled"]
    digits = rows["digits"]
    assert [v["entry_kinds"] for v in digits["versions"]] == [["Int"]] and not digits["versions"][0]["machine_code"]
    assert "mostly generic" in digits["not_compiled"] and digits["refused_ms"] == 0


JUDGED_OVER_BUDGET = """
    import psyco.runtime.jit
    from psyco.runtime.jit import LOOP_FREE_CALLS

    psyco.runtime.jit.FREE_COMPILES, psyco.runtime.jit.COMPILE_SHARE = 0, 0.0  # no compile time to spend


    def label(word):
        return "<" + word + "|" + word * 2 + ">" + word[1:]


    print(sum(len(label("ab")) for i in range(LOOP_FREE_CALLS + 1000)))
    print(len(label.__code__.co_code))  # given back to the interpreter with its own code object
"""


PAID_BACK_OVER_BUDGET = """
    import psyco.runtime.jit as jit

    asks = []
    ask = jit.CodeEntry._on_miss
    jit.CodeEntry._on_miss = lambda entry, args, frame: (asks.append(entry.code.co_name), ask(entry, args, frame))[1]
    jit.LOOP_FREE_PAYBACK = 100_000  # a few times LOOP_FREE_CALLS for poly's native work


    def poly(x):
        return x * 3.0 + x * x * 0.5 - 1.0


    total = sum(poly(i * 0.5) for i in range(jit.LOOP_FREE_CALLS + 10))  # judged: waits to pay back
    jit.FREE_COMPILES, jit.COMPILE_SHARE = 0, 0.0  # no compile time to spend from now on
    total += sum(poly(i * 0.5) for i in range(4 * jit.LOOP_FREE_CALLS))
    print(total, asks.count("poly") < 20)
"""


def test_a_function_that_has_waited_to_pay_back_waits_for_the_budget_too(tmp_path):
    """Past its payback but over the compile budget, a function waits for
    more calls: it is not judged again at every call."""
    both = Both(tmp_path, [str(write(tmp_path / "paid_back.py", PAID_BACK_OVER_BUDGET))], tmp_path)
    both.assert_same()
    assert both.versions("poly") == 0 and both.plain.stdout.split()[-1] == "True"


JUDGED_FOR_A_CALLER = """
    import psyco.runtime.jit as jit

    specialized = []
    specialize = jit._specialize


    def counted(entry, request, called_once):
        specialized.append(entry.code.co_name)
        return specialize(entry, request, called_once)


    jit._specialize = counted


    def shout(word):
        return word.upper() + "!"


    def shout_all(prefix, n):
        out = []
        for i in range(n):
            out.append(shout(prefix + str(i)))  # a str: shout is judged for (str) with its caller
        return out


    print(len(shout_all("a", 100)))  # mostly generic: not compiled, nor shout for it
    for _ in range(jit.LOOP_FREE_CALLS + 10):
        shout("ab")
    print(specialized.count("shout") <= 1)
"""


def test_a_function_judged_for_a_caller_is_not_judged_again_for_the_same_str_arguments(tmp_path):
    """A sample str tells the specializer nothing its kind does not: the
    interpreter's calls of a function already judged with those kinds (for
    a compiled caller) are refused without specializing it again."""
    both = Both(tmp_path, [str(write(tmp_path / "judged.py", JUDGED_FOR_A_CALLER))], tmp_path)
    both.assert_same()
    assert both.plain.stdout.split()[-1] == "True"
    assert ["mostly generic" in r["not_compiled"] for r in both.rows() if r["function"] == "shout"] == [True]


REPLACED_BUILTIN = """
    import builtins


    def three():
        return len([1, 2, 3])


    def work(n):
        s = 0
        for i in range(n):
            s += three()
        return s


    real_len = builtins.len
    builtins.len = lambda x: 7  # compiled too: psyco's own len() must not be it
    try:
        print(work(100_000))
    finally:
        builtins.len = real_len
    print(work(10), __builtins__ is builtins)
"""


REPLACED_BUILTIN_WHILE_BINDING = """
    import builtins

    import psyco


    def as_text(x):
        return str(x)


    def shown(x):
        return repr(x)  # C-API calls only: quick codegen, an object file llvmlite sizes with len()


    psyco.bind(as_text)(1)  # psyco's back end and LLVM loaded
    real_len = builtins.len
    builtins.len = lambda x: 7
    try:
        print(psyco.bind(shown)("a"), len([1, 2]))
    finally:
        builtins.len = real_len
    print(len([1]))
"""


def test_code_psyco_calls_while_compiling_sees_the_original_builtins(tmp_path):
    """llvmlite, which psyco calls, looks builtins up in the builtins
    module: given the program's len(), it handed LLVM a 7-byte object file
    (a segfault).  The program's own code sees its replacement throughout."""
    program = write(tmp_path / "binding.py", REPLACED_BUILTIN_WHILE_BINDING)
    result = run([str(program)], tmp_path)
    assert (result.returncode, result.stdout.split()) == (0, ["'a'", "7", "1"]), result.stderr


def test_a_builtin_the_program_replaces_is_not_the_one_psyco_calls(tmp_path):
    """psyco's code calls the builtins it was imported with: it called the
    program's compiled replacement of len(), which called back into psyco
    (a hang), and computed the trampoline's constant indices with it."""
    both = Both(tmp_path, [str(write(tmp_path / "replaced.py", REPLACED_BUILTIN))], tmp_path)
    both.assert_same()
    assert both.plain.stdout.split() == ["700000", "30", "True"]


def refusal_of_function_given_back(tmp_path, source: str, function: str) -> str:
    """Why psyco did not compile `function` of the program `source`, which
    prints the size of the function's code object last: the same as under
    python once psyco gave the function its own code object back."""
    both = Both(tmp_path, [str(write(tmp_path / "given_back.py", source))], tmp_path)
    both.assert_same()
    [row] = [r for r in both.rows() if r["function"] == function]
    assert not row["versions"]
    return row["not_compiled"]


def test_past_the_budget_a_hot_function_not_worth_compiling_is_given_back(tmp_path):
    """Over budget, a function due for compiling would wait for more calls
    through the dispatcher; one without loops is specialized anyway, and
    when compiling would not pay it goes back to the interpreter."""
    assert "mostly generic" in refusal_of_function_given_back(tmp_path, JUDGED_OVER_BUDGET, "label")


MARGINAL_LOOP_FREE = """
    from psyco.runtime.jit import LOOP_FREE_CALLS


    def parse(text):
        return int(text) if text.isdigit() else None


    print(sum(parse(w) or 0 for w in ["12", "x", "7"] * (LOOP_FREE_CALLS // 2)))
    print(len(parse.__code__.co_code))  # given back to the interpreter with its own code object
"""


def test_a_function_without_loops_that_mostly_calls_the_c_api_is_given_back(tmp_path):
    """Called from the interpreter, each call of its machine code would
    save about what entering it through the trampoline costs."""
    assert "no loops" in refusal_of_function_given_back(tmp_path, MARGINAL_LOOP_FREE, "parse")


FINALIZED_AT_EXIT = """
    import atexit, sys, threading, time


    def total(n):
        t = 0
        for i in range(n):
            t += i * i
        return t


    class Resource:
        def __init__(self, name):
            self.name = name

        def __del__(self):
            print("closing", self.name, total(10), LABEL)  # a compiled function, a global: still there


    def spin():
        while True:
            total(100)
            time.sleep(0.001)


    LABEL = "done"
    print(total(1000))
    atexit.register(lambda: print("handler", total(20)))
    if sys.argv[1:] == ["thread"]:
        threading.Thread(target=spin, daemon=True).start()
    r = Resource("global")
    kept = [Resource("in a list")]
"""


@pytest.mark.parametrize("args", [[], ["thread"]])
def test_module_globals_are_finalized_at_exit_as_under_python(tmp_path, args):
    """At exit (after the program's own handlers) psyco runs everything
    interpreted and lets go of what compiled code kept alive: python then
    finalizes the module's objects with its names intact, as without psyco
    (with a daemon thread still running, neither does)."""
    both = Both(tmp_path, [str(write(tmp_path / "finalized.py", FINALIZED_AT_EXIT)), *args], tmp_path)
    both.assert_same()
    assert both.versions("total") >= 1
    assert ("closing global 285 done" in both.psyco.stdout) == (args == [])


SIGNAL_WHILE_WAITING = """
    import signal, threading, time

    class Timeout(Exception):
        pass

    def on_alarm(signum, frame):
        raise Timeout("alarm")

    def spin(n):
        s = 0
        for i in range(n):
            s += i & 3
        return s

    signal.signal(signal.SIGALRM, on_alarm)
    worker = threading.Thread(target=spin, args=(3_000_000,))  # compiles spin
    worker.start()
    time.sleep(0.005)
    signal.setitimer(signal.ITIMER_REAL, 0.05)  # while this thread waits for that compile
    try:
        spin(10**9)
        print("no timeout")
    except Timeout as exc:
        print("timeout:", exc)
    signal.setitimer(signal.ITIMER_REAL, 0)
    worker.join()
"""


def test_a_signal_handler_raising_while_a_call_waits_for_another_threads_compile(tmp_path):
    # the handler ran inside psyco (waiting for the compile lock): its
    # exception was taken for a compiler failure, the function disabled and
    # the exception lost (the loop ran on interpreted)
    both = Both(tmp_path, [str(write(tmp_path / "waiting.py", SIGNAL_WHILE_WAITING))], tmp_path)
    assert both.plain.stdout == "timeout: alarm\n"
    both.assert_same()


ARGUMENTS_RELEASED = """
    import gc, weakref

    gc.disable()  # what is freed is freed by reference counts, as under python

    class Res:
        freed = 0

        def __del__(self):
            Res.freed += 1

        def use(self, other):
            return 1

    def work(n):
        s = 0
        for i in range(n):
            a = Res()
            s += a.use(a)
        return s

    class Big:
        def __init__(self, n):
            self.data = list(range(n))

    def total(box):
        t = 0
        for v in box.data:
            t += v
        return t

    def consume(boxes):
        s = 0
        for b in boxes:
            s += total(b)
        return s

    def run():
        boxes = [Big(1000 + i) for i in range(20)]
        return weakref.ref(boxes[0]), consume(boxes)

    print(work(50000), "alive after work() returned:", 50000 - Res.freed)
    first, result = run()
    print(result, "first box alive:", first() is not None)
"""


def test_the_arguments_of_calls_psyco_compiled_or_judged_for_are_released(tmp_path):
    # the compile's samples (the call's arguments) stayed alive with the
    # deferred code of a version only copied into its callers; a call judged
    # not worth compiling yet kept its frame, and so its arguments, in a
    # reference cycle (the exception saying so, held by the frame)
    both = Both(tmp_path, [str(write(tmp_path / "released.py", ARGUMENTS_RELEASED))], tmp_path)
    assert "alive after work() returned: 0" in both.plain.stdout and "first box alive: False" in both.plain.stdout
    both.assert_same()


INTERRUPTED_BEFORE_A_COMPILE = """
    import threading, time

    def spin(n):
        s = 0
        for i in range(n):
            s += i & 5
        return s

    def later():
        time.sleep(0.3)
        print(spin(1000))  # psyco's first compile, after the main thread's KeyboardInterrupt

    threading.Thread(target=later).start()
    raise KeyboardInterrupt
"""


def test_dying_of_an_uncaught_keyboard_interrupt_after_a_compile_at_exit(tmp_path):
    # python dies of SIGINT after such an exit unless its flag saying so is
    # cleared, which a string exec'd clears: psyco's first compile, importing
    # its later stages, exec'd some and the process exited 0
    script = write(tmp_path / "interrupted.py", INTERRUPTED_BEFORE_A_COMPILE, prelude=False)
    both = Both(tmp_path, [str(script)], tmp_path)
    assert both.plain.returncode == -signal.SIGINT
    both.assert_same()
