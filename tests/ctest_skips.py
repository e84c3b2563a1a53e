#!/usr/bin/env python3
"""ctest_skips.py - reads CTest's JUnit reports and tells which tests did not run.

usage: ctest_skips.py [--require-all] JUNIT.xml...

For each test CTest reports as not run (a skip: the test exited 77, the
SKIP_RETURN_CODE of the suite; or disabled), prints one line
"  skipped: NAME: REASON", REASON being the test's own "SKIP..." line (the
last one it printed) or CTest's message. Then one summary line.
Exit status: 0, or 1 with --require-all when anything did not run (CI, where a
skipped test is a failed one), 2 when a report cannot be read.
"""
import sys
import xml.etree.ElementTree as ET


def reason_of(case):
    out = case.findtext("system-out") or ""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    said = [l for l in lines if "SKIP" in l or "skip" in l.lower()]
    if said:
        return said[-1]
    if lines:
        return lines[-1]
    skipped = case.find("skipped")
    return skipped.get("message", "no reason given") if skipped is not None else "no reason given"


def main(argv):
    require_all = "--require-all" in argv
    reports = [a for a in argv if a != "--require-all"]
    ran = 0
    not_run = []
    for path in reports:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            print(f"ctest_skips: cannot read {path}: {e}", file=sys.stderr)
            return 2
        for case in root.iter("testcase"):
            if case.get("status") == "run":
                ran += 1
            elif case.get("status") in ("notrun", "disabled") and case.find("failure") is None:
                not_run.append((case.get("name"), reason_of(case)))
    for name, why in not_run:
        print(f"  skipped: {name}: {why}")
    if not_run and require_all:
        print(f"tests: {ran} ran, {len(not_run)} skipped: a skipped test is a failed test here "
              f"(CI=true or STATION_REQUIRE_ALL=1)")
        return 1
    print(f"tests: {ran} ran, {len(not_run)} skipped" +
          (" (reasons above)" if not_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
