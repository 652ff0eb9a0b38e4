"""Time each benchmark program as a whole process, plain CPython vs psyco.

    python benchmarks/run.py [--filter SUBSTR] [--repeat N] [--json out.json]

For every `benchmarks/<group>/<name>.py` it runs `python prog.py` and
`python -m psyco prog.py` (with PSYCO_STATS pointing at a temporary file),
checks that both print the same output, and reports wall time (best of
--repeat), speed-up, psyco's compile time (total and median per compiled
version), the number of compiled versions and each process's peak RSS.

psyco's own modules are byte-compiled first, as installing a package does:
in an environment that sets PYTHONDONTWRITEBYTECODE, each psyco process
would otherwise recompile them from source, which is not what users run.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: bytes
    stderr: bytes
    returncode: int


@dataclass
class Result:
    program: str
    cpython_s: float = math.nan
    psyco_s: float = math.nan
    cpython_rss_mb: float = math.nan
    psyco_rss_mb: float = math.nan
    compile_s: float = math.nan
    median_compile_ms: float = math.nan
    versions: int = 0
    startup_s: float = math.nan
    llvm_load_s: float = math.nan  # loading LLVM with the first machine code (not in compile_s)
    status: str = "ok"
    stats: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.cpython_s / self.psyco_s if self.psyco_s > 0 else math.nan


def run_measured(argv: list[str], env: dict[str, str]) -> Run:
    """Run to completion: wall time, output and the peak RSS of exactly this
    child (wait4 reports it per process)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(elapsed, usage.ru_maxrss / 1024, out.read(), err.read(), proc.returncode)


def programs(filter_text: str | None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*/*.py") if not p.name.startswith("_"))
    return [p for p in found if not filter_text or filter_text in str(p.relative_to(HERE))]


def measure(program: Path, repeat: int) -> Result:
    result = Result(str(program.relative_to(HERE)))
    env = dict(os.environ)
    best_plain: Run | None = None
    best_psyco: Run | None = None
    for _ in range(repeat):
        plain = run_measured([sys.executable, str(program)], env)
        with tempfile.TemporaryDirectory() as tmp:
            stats_file = os.path.join(tmp, "stats.json")
            compiled = run_measured([sys.executable, "-m", "psyco", str(program)], {**env, "PSYCO_STATS": stats_file})
            stats = json.load(open(stats_file)) if os.path.exists(stats_file) else {}
        if best_plain is None or plain.seconds < best_plain.seconds:
            best_plain = plain
        if best_psyco is None or compiled.seconds < best_psyco.seconds:
            best_psyco, result.stats = compiled, stats
    assert best_plain is not None and best_psyco is not None
    result.cpython_s, result.cpython_rss_mb = best_plain.seconds, best_plain.peak_rss_mb
    result.psyco_s, result.psyco_rss_mb = best_psyco.seconds, best_psyco.peak_rss_mb
    if best_psyco.returncode != 0:
        result.status = "FAIL: " + best_psyco.stderr.decode(errors="replace").strip().splitlines()[-1:][0]
    elif best_psyco.stdout != best_plain.stdout:
        result.status = "MISMATCH"
    stats = result.stats
    times = stats.get("compile_times_s") or []
    result.compile_s = stats.get("compile_time_s", math.nan)
    result.median_compile_ms = statistics.median(times) * 1000 if times else math.nan
    result.versions = stats.get("versions", 0)
    result.startup_s = stats.get("startup_s", math.nan)
    result.llvm_load_s = stats.get("llvm_load_s", math.nan)
    return result


def table(results: list[Result]) -> str:
    header = (f"{'program':28} {'cpython s':>9} {'psyco s':>8} {'speed-up':>8} {'compile s':>9} "
              f"{'median ms':>9} {'versions':>8} {'RSS MB cpy':>10} {'RSS MB psy':>10}  status")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.program:28} {r.cpython_s:9.3f} {r.psyco_s:8.3f} {r.speedup:7.1f}x {r.compile_s:9.3f} "
            f"{r.median_compile_ms:9.1f} {r.versions:8d} {r.cpython_rss_mb:10.1f} {r.psyco_rss_mb:10.1f}  {r.status}"
        )
    good = [r.speedup for r in results if r.status == "ok" and r.speedup > 0]
    if good:
        geomean = math.exp(sum(math.log(x) for x in good) / len(good))
        lines.append(f"geometric mean speed-up: {geomean:.2f}x over {len(good)} programs")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", help="only programs whose path contains this text")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best time counts")
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    spec = importlib.util.find_spec("psyco")  # the psyco that `python -m psyco` runs
    for location in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(location, quiet=1)
    results = []
    for program in programs(args.filter):
        result = measure(program, args.repeat)
        print(f"{result.program}: {result.speedup:.1f}x {result.status}", file=sys.stderr, flush=True)
        results.append(result)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) | {"speedup": r.speedup} for r in results], f, indent=2)
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
