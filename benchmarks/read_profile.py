"""Where the time of reading one returned workbook goes, phase by phase, against
python-calamine reading every value of the same file (not a test).

    python benchmarks/read_profile.py --data /tmp/speed/bench/n500 --n 500 [--files 200]

In this one process (no pool), over the first ``--files`` files of a corpus made by
benchmarks/corpus.py: the file read, the zip opened, every sheet part unzipped, the scan's
passes (its regular expressions, one by one), the values taken from the scan, the metadata
verified, the input cells read, the layout compared with the fingerprint, and the check
against the plan; then python-calamine's whole reading of the same files. Milliseconds per
file; the ratio is the in-process part of "check ≤ 2× calamine" (issue 16).
"""

from __future__ import annotations

import argparse
import operator
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import make_corpus  # noqa: E402


class Clock:
    """Seconds spent per phase."""

    def __init__(self):
        self.spent: dict[str, float] = {}

    def __call__(self, phase: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.spent[phase] = self.spent.get(phase, 0.0) + time.perf_counter() - started
        return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args(argv)

    import xlplan.ooxml.reader as reader
    import xlplan.read as read
    from python_calamine import CalamineWorkbook
    from xlplan.check import check_returned, template_versions
    from xlplan.metadata import METADATA_SHEET
    from xlplan.ooxml.reader import Limits, Package, read_regular_file, sniff_package

    project, plan, files = make_corpus(Path(args.data), args.n)
    files = files[:args.files]
    key, settings = project.settings.key_bytes, project.settings
    versions = template_versions(settings)
    clock = Clock()
    for path in files:
        result = read.Returned(path)
        data = clock("file read", read_regular_file, path, Limits())
        kind, opened = clock("zip opened", sniff_package, data)
        pkg = clock("zip opened", Package, data, Limits(), opened)
        parts = clock("  (within the scan: unzipping the parts)", lambda: {e.name: pkg.part(e.part) for e in pkg.sheets})
        for name, part in parts.items():
            clock("  (within the scan: root, unusual forms)", lambda: (reader.check_root(part, "p", b"worksheet", name),
                                                           reader._UNUSUAL.search(part)))  # noqa: SLF001
            cells = clock("  (within the scan: cell tags)", reader._CELLS.findall, part)  # noqa: SLF001
            clock("  (within the scan: cells in order, in grid)", reader._plain_cells_fit, cells, 10**6, 10**7)  # noqa: SLF001
            rows = clock("  (within the scan: rows)", reader._ROWS.findall, part)  # noqa: SLF001
            clock("  (within the scan: rows)", lambda: all(map(operator.lt, rows, rows[1:])))
            clock("  (within the scan: other tags)", reader._OTHER_TAGS.findall, part)  # noqa: SLF001
        scans = clock("scan: unzip and every pass (as read runs it)", pkg.scan)
        values = pkg.values(scans)
        clock("values from the scan", lambda: [values.grid(n) for n in pkg.sheet_names()])
        clock("metadata verified", read._read_metadata, result, values.rows(METADATA_SHEET), key)  # noqa: SLF001
        clock("input cells", read._read_fields, result, pkg, values, scans)  # noqa: SLF001
        clock("layout vs fingerprint", read._check_layout, result, pkg, values, scans)  # noqa: SLF001
        clock("check against the plan", check_returned, result, plan, settings, versions)
        values.close()

    def calamine(path):
        book = CalamineWorkbook.from_path(str(path))
        return sum(1 for n in book.sheet_names for row in book.get_sheet_by_name(n).to_python() for v in row)

    for path in files:
        clock("python-calamine, every value (floor)", calamine, path)
    per_file = {phase: seconds / len(files) * 1e3 for phase, seconds in clock.spent.items()}
    ours = sum(v for k, v in per_file.items() if not k.startswith(("  ", "python-calamine")))
    for phase, ms in per_file.items():
        print(f"{phase:46s} {ms:7.2f} ms/file")
    floor = per_file["python-calamine, every value (floor)"]
    print(f"{'read + check (the phases not indented)':46s} {ours:7.2f} ms/file = "
          f"{ours / floor:.2f}× python-calamine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
