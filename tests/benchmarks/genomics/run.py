"""Genomics benchmark: inspect a 1 GiB VCF and compare with reading the same file without parsing it.

One run writes a bgzipped VCF of --size-gib (default 1 GiB on disk, 1,000 samples of array-like genotypes) into a
temporary directory, then times each step below in its own process, reading the process's peak resident set from
the kernel (wait4's ru_maxrss), and deletes the directory (unless --keep):

  zcat | wc -l        the shell's way to read it: gzip's decompressor, lines counted
  bgzip -dc -@2       htslib's threaded decompressor (when bgzip is installed)
  zlib, no parsing    this library's own decompression, every byte read and nothing parsed
  import only         an interpreter that imports apps.genomics.vcf and stops: the floor of the peak RSS
  vcf_inspect         the full pre-flight inspection

It is a measurement, not a test: it prints a table with each step's throughput (MB of file and MB of text per
second), its peak RSS and its ratios against zcat and against decompression alone, and exits 0 whatever the
figures are; non-zero only when a step fails.

    .venv/bin/python tests/benchmarks/genomics/run.py [--size-gib 1] [--samples 1000] [--dir /tmp] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MB = 10**6
GIB = 1 << 30

# Every step, writing the file included, runs in a child process: the kernel carries the parent's peak RSS over
# into a spawned child's ru_maxrss, so this process imports nothing heavy and stays small.
_SYNTHESISE = """
import json, sys
from apps.genomics.simulate import vcf_synthesise
written = vcf_synthesise(sys.argv[1], size_bytes=int(sys.argv[2]), samples=int(sys.argv[3]))
print(json.dumps({"variants": written.variants}))
"""
_DECOMPRESS = """
import json, sys
from pathlib import Path
from apps.genomics.compression import Decompressed
size = sum(len(chunk) for chunk in Decompressed(Path(sys.argv[1]), "bgzf"))
print(json.dumps({"text_bytes": size}))
"""
_IMPORT_ONLY = "import apps.genomics.vcf"
_INSPECT = """
import json, sys
from apps.genomics.vcf import vcf_inspect
report = vcf_inspect(sys.argv[1])
print(json.dumps({"variants": report.variants, "problems": [p.code for p in report.problems]}))
"""


@dataclass
class Step:
    name: str
    seconds: float
    peak_rss_mb: float
    output: str


def run(name: str, argv: list[str], workdir: Path) -> Step:
    """Run argv in its own process; wall time, and the peak RSS of it and of every child it waited for."""
    out = workdir / f"{len(os.listdir(workdir))}.out"
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    text = out.read_text().strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed (exit {os.waitstatus_to_exitcode(status)}): {shlex.join(argv)}\n{text}")
    return Step(name, seconds, usage.ru_maxrss * 1024 / MB, text)  # ru_maxrss is in KiB on Linux


def shell(command: str) -> list[str]:
    return ["/bin/sh", "-c", command]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=1.0, help="size of the VCF on disk [1]")
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temporary directory")
    parser.add_argument("--keep", action="store_true", help="leave the temporary directory and the VCF behind")
    options = parser.parse_args()
    size = int(options.size_gib * GIB)
    parent = options.dir or Path(tempfile.gettempdir())
    if shutil.disk_usage(parent).free < size * 1.2:
        raise SystemExit(f"needs {size * 1.2 / GIB:.1f} GiB free in {parent}")
    workdir = Path(tempfile.mkdtemp(prefix="genomics-bench-", dir=parent))
    try:
        return measure(workdir, size, options.samples)
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def measure(workdir: Path, size: int, samples: int) -> int:
    vcf = workdir / "bench.vcf.gz"
    python, quoted = sys.executable, shlex.quote(str(vcf))
    print(f"writing a {size / GIB:.2f} GiB VCF of {samples:,} samples in {workdir} ...", flush=True)
    writing = run("write (vcf_synthesise)", [python, "-c", _SYNTHESISE, str(vcf), str(size), str(samples)], workdir)
    variants = json.loads(writing.output)["variants"]
    file_mb = vcf.stat().st_size / MB
    print(f"written in {writing.seconds:.0f} s: {file_mb:,.0f} MB, {variants:,} records", flush=True)
    print(f"own peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (carried into children)")
    steps = [run("zcat | wc -l", shell(f"zcat {quoted} | wc -l"), workdir)]
    bgzip = shutil.which("bgzip")
    if bgzip:
        steps.append(run("bgzip -dc -@2 | wc -l", shell(f"{shlex.quote(bgzip)} -dc -@2 {quoted} | wc -l"), workdir))
    steps.append(run("zlib, no parsing", [python, "-c", _DECOMPRESS, str(vcf)], workdir))
    steps.append(run("import only", [python, "-c", _IMPORT_ONLY], workdir))
    steps.append(run("vcf_inspect", [python, "-c", _INSPECT, str(vcf)], workdir))
    by_name = {step.name: step for step in steps}
    text_mb = json.loads(by_name["zlib, no parsing"].output)["text_bytes"] / MB
    inspected = json.loads(by_name["vcf_inspect"].output)
    if inspected["variants"] != variants or inspected["problems"]:
        raise SystemExit(f"vcf_inspect read {inspected}, expected {variants:,} records and no problems")
    lines = int(by_name["zcat | wc -l"].output)
    print(f"\n{file_mb:,.0f} MB on disk, {text_mb:,.0f} MB of text, {lines:,} lines\n")
    zcat, plain = by_name["zcat | wc -l"], by_name["zlib, no parsing"]
    header = f"{'step':<24}{'wall s':>9}{'file MB/s':>11}{'text MB/s':>11}{'peak RSS MB':>13}{'x zcat':>9}{'x zlib':>9}"
    print(header)
    print("-" * len(header))
    for step in steps:
        if step.name == "import only":
            print(f"{step.name:<24}{step.seconds:>9.2f}{'':>11}{'':>11}{step.peak_rss_mb:>13.1f}")
            continue
        print(
            f"{step.name:<24}{step.seconds:>9.1f}{file_mb / step.seconds:>11.1f}{text_mb / step.seconds:>11.1f}"
            f"{step.peak_rss_mb:>13.1f}{zcat.seconds / step.seconds:>9.2f}{plain.seconds / step.seconds:>9.2f}"
        )
    inspect, floor = by_name["vcf_inspect"], by_name["import only"]
    print(
        f"\nvcf_inspect: {text_mb / inspect.seconds:,.0f} MB/s of text, {zcat.seconds / inspect.seconds:.2f} x the"
        f" throughput of zcat | wc -l and {plain.seconds / inspect.seconds:.2f} x that of decompression alone; peak"
        f" RSS {inspect.peak_rss_mb:.0f} MB, {inspect.peak_rss_mb - floor.peak_rss_mb:.0f} MB above the interpreter"
        " with the library imported."
    )
    print("(x zcat, x zlib: throughput relative to that step; above 1 is faster.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
