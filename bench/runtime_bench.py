#!/usr/bin/env python3
"""Reports bench/runtime.sh's samples (issue 6), measured by runtime_bench.cc.

  runtime_bench.py --samples FILE [--base NAME]... [--results TSV] ROW...
      FILE has "GROUP<TAB>NAME<TAB>WALL_MS<TAB>MAXRSS_KIB<TAB>USER_MS<TAB>SYS_MS" lines.
      Prints one markdown table per group (strata's commands first, the busybox floor last):
      median, p90 and min of the wall time, median peak RSS, median CPU time (user + system:
      the split is tick-sampled, the sum is not), and the ratios of each command's medians to
      the group's base (the first --base NAME it has).
      A ROW "G|NAME|time or rss|LABEL|TARGET" also appends
      "LABEL<TAB>ours<TAB>peer<TAB>ratio<TAB>TARGET" to TSV for bench/run: ours is group G's
      "strata*" command, the peer its command NAME, compared by median wall time or peak RSS.
"""
import argparse
import math
import statistics


def p90(values):
    v = sorted(values)
    return v[math.ceil(0.9 * len(v)) - 1]


def report(args):
    groups = {}  # group -> name -> ([wall ms], [kib], [user ms], [sys ms]), in file order
    for line in open(args.samples):
        group, name, ms, kib, user, system = line.rstrip("\n").split("\t")
        walls, rss, users, systems = groups.setdefault(group, {}).setdefault(name, ([], [], [], []))
        walls.append(float(ms))
        rss.append(int(kib))
        users.append(float(user))
        systems.append(float(system))
    med = statistics.median
    for group, names in groups.items():
        base_name = next((b for b in args.base if b in names), None)
        base = names.get(base_name)
        print(f"\n#### {group} ({len(next(iter(names.values()))[0])} runs each)\n")
        head = "| command | median ms | p90 ms | min ms | peak RSS KiB (median) | CPU ms (median) |"
        rule = "|---|---:|---:|---:|---:|---:|"
        if base:
            head += f" time / {base_name} | RSS / {base_name} |"
            rule += "---:|---:|"
        print(head)
        print(rule)
        order = sorted(names, key=lambda n: (not n.startswith("strata"),
                                             n.startswith("busybox"), n))
        for name in order:
            walls, rss, users, systems = names[name]
            row = (f"| {name} | {med(walls):.2f} | {p90(walls):.2f} | {min(walls):.2f} | "
                   f"{med(rss):.0f} | {med([u + k for u, k in zip(users, systems)]):.2f} |")
            if base:
                row += (f" {med(walls) / med(base[0]):.2f}x | "
                        f"{med(rss) / med(base[1]):.2f}x |")
            print(row)
    if not args.results:
        return
    with open(args.results, "a") as out:
        for row in args.rows:
            group, peer, metric, label, target = row.split("|", 4)
            names = groups.get(group, {})
            ours = next((v for n, v in names.items() if n.startswith("strata")), None)
            if ours is None or peer not in names:
                continue
            if metric == "rss":
                a, b = med(ours[1]), med(names[peer][1])
                out.write(f"{label}\t{a / 1024:.1f} MiB\t{b / 1024:.1f} MiB\t{a / b:.2f}x\t"
                          f"{target}\n")
            else:
                a, b = med(ours[0]), med(names[peer][0])
                out.write(f"{label}\t{a:.1f} ms\t{b:.1f} ms\t{a / b:.2f}x\t{target}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--base", action="append", default=[])
    parser.add_argument("--results")
    parser.add_argument("rows", nargs="*")
    report(parser.parse_args())


if __name__ == "__main__":
    main()
