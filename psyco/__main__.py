"""Command line: run a program with every function compiled when called.

    python -m psyco [--report] [--profile] script.py [args...]
    python -m psyco [--report] [--profile] -m module [args...]

`sys.argv`, `__name__ == "__main__"`, exit codes and the output of an
uncaught exception are those of `python script.py`.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import importlib.machinery
import os
import runpy
import sys
import time
import types

from psyco.own_builtins import BUILTINS

# The program may delete or replace builtins: the launcher, which reports
# its uncaught exception, calls the original ones (the program gets the
# `builtins` module, see _run_script).
__builtins__ = BUILTINS

# Where the frames of psyco's launcher and runpy come from: known before the
# program runs (os.path calls `len`, which the program may have deleted).
_LAUNCHER_FILES = (os.path.dirname(os.path.abspath(__file__)) + os.sep, runpy.__file__, "<frozen runpy>")

# What python's top level shows an exception with when sys.excepthook is
# missing or failed (PyErr_Display): the original sys.__excepthook__, which
# the program may replace.
_display = sys.__excepthook__

USAGE = """usage: python -m psyco [--report] [--profile] script.py [args...]
       python -m psyco [--report] [--profile] -m module [args...]

  --report    after the run, print on stderr what was compiled and what not
  --profile   compile only functions called often (psyco.profile())
  PSYCO_STATS=file.json  write compile statistics to that file at exit
  PSYCO_PERF_MAP=1       name the machine code psyco makes for perf, in /tmp/perf-<pid>.map"""


def _parse(argv: list[str]) -> tuple[dict[str, bool], str | None, str | None, list[str]]:
    options = {"report": False, "profile": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--report", "--profile"):
            options[arg[2:]] = True
        elif arg in ("-h", "--help"):
            print(USAGE)
            sys.exit(0)
        elif arg == "-m":
            if i + 1 >= len(argv):
                break
            return options, None, argv[i + 1], argv[i + 2:]
        elif arg.startswith("-"):
            print(f"psyco: unknown option {arg}\n{USAGE}", file=sys.stderr)
            sys.exit(2)
        else:
            return options, arg, None, argv[i + 1:]
        i += 1
    print(USAGE, file=sys.stderr)
    sys.exit(2)


def _user_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Drop psyco's and runpy's own frames from the top of a traceback."""
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_LAUNCHER_FILES):
        tb = tb.tb_next
    return tb


def _script_file(path: str) -> str:
    """The script's file name as python 3.11 sets `__file__` and the code's
    file names: made absolute, not normalized ("/cwd/./x.py")."""
    return path if os.path.isabs(path) else os.getcwd() + os.sep + path


def _script_directory(path: str) -> str:
    """Where python 3.11 looks first for the script's imports: the directory
    of the file, its symbolic links resolved."""
    return os.path.dirname(os.path.realpath(path))


def _read_script(path: str) -> bytes:
    """The script's source, or exit as python does when it cannot open it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        program = sys.orig_argv[0] if sys.orig_argv else "python"  # as the interpreter was invoked
        print(f"{program}: can't open file {_script_file(path)!r}: [Errno {exc.errno}] {exc.strerror}",
              file=sys.stderr)
        sys.exit(2)


def _run_script(path: str, args: list[str], threshold: int) -> None:
    from psyco import api

    source = _read_script(path)
    full_path = _script_file(path)
    # dont_inherit: the script gets its own __future__ imports, not ours.
    code = api.transform_code(compile(source, full_path, "exec", dont_inherit=True), threshold)
    sys.argv = [path] + args
    if not sys.flags.safe_path:  # (-P, -I: python puts no directory of the program's first)
        sys.path[0] = _script_directory(path)
    main = types.ModuleType("__main__")
    # As python's own runner sets them (the loader lets linecache and inspect read the source).
    loader = importlib.machinery.SourceFileLoader("__main__", full_path)
    main.__dict__.update({"__file__": full_path, "__builtins__": builtins, "__cached__": None,
                          "__loader__": loader, "__annotations__": {}})
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _write_stats(path: str, startup: float) -> None:
    from psyco.runtime.jit import STATS, CodeEntry

    entries = {id(e): e for e in CodeEntry.by_code.values()}.values()
    stats = {
        "compile_time_s": STATS["compile_seconds"],
        "versions": STATS["versions"],
        "functions_compiled": sum(1 for e in entries if e.versions),
        "compile_times_s": STATS["compile_times"],
        "startup_s": startup,
        "llvm_load_s": STATS["llvm_load_seconds"],
    }
    import json  # here: importing it costs every start-up 4 ms

    with open(path, "w") as f:
        json.dump(stats, f)


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    options, script, module, args = _parse(sys.argv[1:] if argv is None else argv)
    # psyco's own imports look in the standard library and site-packages,
    # not in the current directory `python -m` put first (a program's
    # opcode.py there would be psyco's): psyco's package took it off
    # sys.path.  The program's files then shadow what psyco imported, as
    # without it.
    import psyco

    current = psyco._LAUNCH_PATH_ENTRY
    try:
        active = psyco.supported()
        if active:
            from psyco import api, own_imports
    finally:
        if current is not None:
            sys.path.insert(0, current)
    threshold = 1
    if active:
        program_directory = _script_directory(script) if script is not None else current
        if program_directory is not None:
            own_imports.leave_to_program(set(sys.modules) - psyco._STARTUP_MODULES, program_directory)
        threshold = api._PROFILE_THRESHOLD if options["profile"] else 1
        api._take_over(threshold, None)
        # What exists now (psyco, the standard library) lives as
        # long as the process: the collector need not traverse it again,
        # in the program's collections nor in the full one at exit.
        gc.freeze()
    startup = time.perf_counter() - started
    stats_path = os.environ.get("PSYCO_STATS")  # (os.environ calls builtins the program may delete)
    uncaught: BaseException | None = None
    try:
        try:
            if script is not None:
                if active:
                    _run_script(script, args, threshold)
                else:
                    sys.argv = [script] + args
                    runpy.run_path(script, run_name="__main__")
            else:
                sys.argv = [module] + args  # runpy sets argv[0] to the module's file
                runpy.run_module(module, run_name="__main__", alter_sys=True)  # type: ignore[arg-type]
        except SystemExit:
            raise
        except BaseException as exc:
            uncaught = exc
        # Reported outside the handler: the hook sees no exception being
        # handled (sys.exc_info()), nor gets one as context, as under python.
        if uncaught is not None:
            uncaught.__traceback__ = _user_traceback(uncaught.__traceback__)
            _print_uncaught(uncaught)
            if type(uncaught) is not KeyboardInterrupt:  # (a subclass exits 1, as under python)
                sys.exit(1)
    finally:
        if active and options["report"]:
            _flush_io()
            print(psyco.format_report(), file=sys.stderr)
        if active and stats_path:
            _write_stats(stats_path, startup)
    if uncaught is not None:  # KeyboardInterrupt: python finalizes, then dies of SIGINT
        from psyco.abi import current as abi

        if abi is not None and abi.die_of_sigint_after_finalizing():
            return
        import signal  # here: importing it costs every start-up 1 ms

        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        _flush_io()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _flush_io() -> None:
    """Flush sys.stderr and sys.stdout, as python does before it reports an
    uncaught exception: whatever they are (None, closed), never raising."""
    for name in ("stderr", "stdout"):
        try:
            getattr(sys, name).flush()
        except BaseException:  # (python clears whatever flushing raised)
            pass


def _print_uncaught(exc: BaseException) -> None:
    """Report `exc` as python's top level does (PyErr_Print): sys.last_type,
    last_value and last_traceback set, the sys.excepthook audit event, then
    sys.excepthook, or the built-in display when the hook is missing or
    fails itself (a SystemExit it raises exits)."""
    _flush_io()
    kind, tb = type(exc), exc.__traceback__
    sys.last_type, sys.last_value, sys.last_traceback = kind, exc, tb
    missing = not hasattr(sys, "excepthook")
    hook = None if missing else sys.excepthook  # (None is a hook too: calling it fails)
    try:
        sys.audit("sys.excepthook", hook, kind, exc, tb)
    except RuntimeError:
        return
    except Exception as failure:  # reported as python's default unraisablehook does, then on
        _show_failure("Exception ignored in audit hook:\n", failure)
    if missing:
        _write_stderr("sys.excepthook is missing\n")
        _display(kind, exc, tb)
        return
    try:
        hook(kind, exc, tb)
    except SystemExit:
        raise
    except BaseException as failure:
        _show_failure("Error in sys.excepthook:\n", failure)
        _write_stderr("\nOriginal exception was:\n")
        _display(kind, exc, tb)


def _show_failure(header: str, failure: BaseException) -> None:
    """`header`, then `failure`, raised by a hook _print_uncaught called, as
    python shows it: its traceback from the hook on (without our frame)."""
    _write_stderr(header)
    failure.__traceback__ = failure.__traceback__.tb_next  # type: ignore[union-attr]
    _display(type(failure), failure, failure.__traceback__)


def _write_stderr(text: str) -> None:
    """As PySys_WriteStderr: to sys.stderr, else to the process's stderr."""
    try:
        sys.stderr.write(text)
    except BaseException:
        os.write(2, text.encode())


if __name__ == "__main__":
    main()
