"""A reading process's memory as it reads and checks one file after another (not a test).

    python benchmarks/reader_memory.py --data /tmp/speed/bench/n2000 --n 2000

Reads and checks the corpus's files in this one process, as a reading process of check and
collect does, and prints VmRSS and the sizes of the reader's caches after 1, 500, 1,000 and
N files: memory must stay flat once a form's texts are known (issue 16, "memory flat").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import make_corpus  # noqa: E402


def _vm_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a corpus folder made by benchmarks/corpus.py")
    ap.add_argument("--n", type=int, required=True, help="its number of files")
    args = ap.parse_args(argv)

    import xlplan.metadata as metadata
    import xlplan.ooxml.values as values
    from xlplan.check import CheckContext, template_versions
    from xlplan.read import read_returned

    project, plan, files = make_corpus(Path(args.data), args.n)
    context = CheckContext(plan, project.settings, template_versions(project.settings), keep_values=False)
    marks = {0, 499, 999, len(files) - 1}
    for i, path in enumerate(files):
        context.check(read_returned(path, project.settings.key_bytes))
        if i in marks:
            print(f"after {i + 1:>5} files: VmRSS {_vm_rss_mb():6.1f} MB, texts cached "
                  f"{values._short_text.cache_info().currsize}, rows cached "  # noqa: SLF001
                  f"{metadata._text_row_hash.cache_info().currsize}")  # noqa: SLF001
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
