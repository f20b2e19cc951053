#!/usr/bin/env python3
"""Turn a page-fault trace of a `coral` run into the link order of its functions (`host/link-order.txt`).

The kernel maps a file page's neighbours on every fault (fault-around, 64 KB), so the code start-up and the event
path run, scattered over a 30 MB text segment, keeps about half of it resident. Listed in `host/link-order.txt`,
those functions are placed next to each other at link time (`host/build.rs`: a linker script for lld), and
the neighbours that fault-around brings in are mostly code that runs anyway.

Input: the text of the `exceptions:page_fault_user` trace (tracefs, with `record-tgid`), the traced process's id,
its executable and a copy of its `/proc/<pid>/maps` (for the load address). A fault whose address is in the
executable's code names the function that was about to run there; a fault elsewhere whose instruction pointer is in
the executable names the function that touched the data. Functions found are appended to the list in the order they first ran, after the ones it already has (a
function that rode in on a neighbour's fault shows up once the neighbour moves, so `scripts/link-order.sh` runs this
until a round finds little new). Names the executable no longer has are dropped.

`--self-test` builds a small C program with gcc (each function in its own section), makes up a trace of it, and
fails unless the list comes out as the faults ordered it: first run first, each once, names already listed kept in
front, a stale name dropped, faults of other processes and outside the executable ignored.
"""

import bisect
import re
import subprocess
import sys
from pathlib import Path


def text_symbols(binary):
    """(start, end, name) of every function in `binary`, sorted by address (mangled names, as the linker sees them),
    and the set of all its symbol names."""
    out = subprocess.run(
        ["nm", "--defined-only", "-S", "-n", binary], capture_output=True, text=True, check=True
    ).stdout
    symbols, names = [], set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        names.add(parts[3])
        start, size = int(parts[0], 16), int(parts[1], 16)
        if parts[2] in "tTwW" and size:
            symbols.append((start, start + size, parts[3]))
    return symbols, names


def load_address(maps, binary):
    """Where the executable's first page (file offset 0) is mapped, from a copy of /proc/<pid>/maps."""
    real = str(Path(binary).resolve())
    for line in open(maps):
        parts = line.split()
        if len(parts) >= 6 and parts[5] == real and int(parts[2], 16) == 0:
            return int(parts[0].split("-")[0], 16)
    sys.exit(f"{binary} is not mapped in {maps}")


FAULT = re.compile(r"^\s*\S+-\d+\s+\(\s*(\d+)\).*page_fault_user: address=(?:0x)?([0-9a-f]+) ip=(?:0x)?([0-9a-f]+)")


def update(trace, pid, binary, maps, order_file):
    """Append the functions `trace` shows process `pid` running to `order_file`; (faults, added, dropped, listed)."""
    base = load_address(maps, binary)
    symbols, names = text_symbols(binary)
    starts = [s[0] for s in symbols]

    def function_at(address):
        offset = address - base
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and symbols[i][0] <= offset < symbols[i][1]:
            return symbols[i][2]
        return None

    order = Path(order_file)
    listed = order.read_text().split() if order.exists() else []
    known = [name for name in listed if name in names]
    seen = set(known)
    found = []
    faults = 0
    for line in open(trace, errors="replace"):
        m = FAULT.match(line)
        if not m or m.group(1) != pid:
            continue
        faults += 1
        for address in (int(m.group(2), 16), int(m.group(3), 16)):
            name = function_at(address)
            if name and name not in seen:
                seen.add(name)
                found.append(name)
    order.write_text("".join(name + "\n" for name in known + found))
    return faults, len(found), len(listed) - len(known), len(known) + len(found)


def self_test():
    import tempfile

    program = "\n".join(
        [f"__attribute__((noinline)) int f{i}(int x) {{ return x * {i + 3} + {i}; }}" for i in range(6)]
        + ["int main(int argc, char **argv) { return f0(argc); }"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "p.c").write_text(program)
        binary = tmp / "p"
        subprocess.run(["gcc", "-O1", "-ffunction-sections", "-o", str(binary), str(tmp / "p.c")], check=True)
        symbols, _ = text_symbols(str(binary))
        at = {name: start for start, _, name in symbols}
        base = 0x555555554000
        (tmp / "maps").write_text(
            f"{base:x}-{base + 0x1000:x} r--p 00000000 fe:00 1 {binary.resolve()}\n"
            f"{base + 0x1000:x}-{base + 0x2000:x} r-xp 00001000 fe:00 1 {binary.resolve()}\n"
        )

        def fault(pid, address, ip, code="14"):
            return (
                f"            p-{pid}    (  {pid}) [001] d.... 1.0: page_fault_user: "
                f"address=0x{address:x} ip=0x{ip:x} error_code=0x{code}\n"
            )

        f = {n: base + at[n] + 1 for n in ("f0", "f1", "f2", "f3", "f4", "f5", "main")}
        data = base + 0x10_0000
        (tmp / "trace").write_text(
            "# tracer: nop\n"
            + fault(7, f["main"], f["main"])
            + fault(7, f["f3"], f["f3"])
            + fault(8, f["f5"], f["f5"])  # another process
            + fault(7, data, f["f1"], "6")  # f1 touched data: f1 ran
            + fault(7, f["f3"], f["f3"])  # again: listed once
            + fault(7, 0x7F00_0000_0000, 0x7F00_0000_0000)  # a library's code
            + fault(7, f["f2"], f["f2"])
        )
        order = tmp / "order.txt"
        order.write_text("f4\ngone_since\n")
        faults, added, dropped, listed = update(tmp / "trace", "7", str(binary), tmp / "maps", order)
        got = order.read_text().split()
        want = ["f4", "main", "f3", "f1", "f2"]
        assert got == want, f"link order {got}, expected {want}"
        assert (faults, added, dropped, listed) == (6, 4, 1, 5), (faults, added, dropped, listed)
    print("link-order.py self-test: ok")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    if len(sys.argv) != 6:
        sys.exit("usage: link-order.py TRACE PID BINARY MAPS ORDER_FILE")
    trace, pid, binary, maps, order_file = sys.argv[1:]
    faults, added, dropped, listed = update(trace, pid, binary, maps, order_file)
    print(f"{faults} faults of process {pid}; {added} functions added, {dropped} dropped, {listed} listed")


if __name__ == "__main__":
    main()
