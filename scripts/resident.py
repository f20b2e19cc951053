#!/usr/bin/env python3
"""Where a running process's resident memory is: its executable's resident pages by ELF section and by crate.

Usage: sudo-or-root python3 scripts/resident.py PID [TOP]

Reads /proc/PID/smaps (totals per mapping kind) and /proc/PID/pagemap (which of the executable's pages are
present; needs root), maps each present page of the executable to its ELF section (`readelf -SW`) and, in
.text, to the symbols on it (`nm -S -n -C`), and sums the resident bytes per crate (the first path segment of a
symbol's demangled name). Used for the RSS figures in BENCHMARKS.md.
"""

import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def smaps_totals(pid):
    """Resident KiB per mapping kind: the executable, other files, anonymous (heap, stacks, wasm memory)."""
    exe = os.path.realpath(f"/proc/{pid}/exe")
    totals = collections.Counter()
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                path = head[5] if len(head) > 5 else ""
                if path == exe:
                    kind = "executable"
                elif path.startswith("/"):
                    kind = "file: " + os.path.basename(path)
                else:
                    kind = "anonymous " + path if path else "anonymous"
            elif head and head[0] == "Rss:":
                totals[kind] += int(head[1])
    return exe, totals


def exe_mappings(pid, exe):
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 5 and parts[5] == exe:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                maps.append((start, end, int(parts[2], 16)))
    return maps


def present_pages(pid, start, end):
    """Virtual addresses of present pages in [start, end)."""
    out = []
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    for i in range(len(data) // 8):
        (entry,) = struct.unpack_from("<Q", data, i * 8)
        if entry >> 63:
            out.append(start + i * PAGE)
    return out


def sections(exe):
    """(vaddr, size, name) of allocated sections."""
    out = []
    text = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
        if m and "A" in m.group(4) and int(m.group(2), 16):
            out.append((int(m.group(2), 16), int(m.group(3), 16), m.group(1)))
    return out


CRATE = re.compile(r"^(?:<|_<)*(?:&(?:mut )?)?(?:dyn )?([A-Za-z_][A-Za-z0-9_]*)")


def crate_of(name):
    m = CRATE.match(name)
    if not m:
        return "?"
    word = m.group(1)
    # C functions (SQLite, ring's assembly, libc shims) have no path.
    return word if "::" in name else "(C) " + ("sqlite3" if word.startswith("sqlite3") else "other")


def symbols(exe):
    out = []
    text = subprocess.run(["nm", "-S", "-n", "-C", "--defined-only", exe], capture_output=True, text=True).stdout
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            out.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return out


def main():
    pid = int(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    exe, totals = smaps_totals(pid)
    print(f"RSS by mapping (KiB), pid {pid}:")
    for kind, kib in totals.most_common():
        if kib:
            print(f"  {kib:8d}  {kind}")
    print(f"  {sum(totals.values()):8d}  total")
    maps = exe_mappings(pid, exe)
    bias = min(start - offset for start, _, offset in maps)
    pages = []
    for start, end, _ in maps:
        pages += [p - bias for p in present_pages(pid, start, end)]
    by_section = collections.Counter()
    secs = sections(exe)
    text_pages = []
    for page in pages:
        name = next((n for a, s, n in secs if a <= page < a + s), "(between sections)")
        by_section[name] += PAGE
        if name == ".text":
            text_pages.append(page)
    print("\nexecutable's resident pages by section (KiB):")
    for name, size in by_section.most_common():
        print(f"  {size // 1024:8d}  {name}")
    resident = set(text_pages)
    by_crate = collections.Counter()
    for addr, size, name in symbols(exe):
        first, last = addr // PAGE * PAGE, (addr + max(size, 1) - 1) // PAGE * PAGE
        for page in range(first, last + PAGE, PAGE):
            if page in resident:
                lo, hi = max(addr, page), min(addr + size, page + PAGE)
                by_crate[crate_of(name)] += max(hi - lo, 0)
    print(f"\n.text resident bytes by crate (top {top}, KiB; a page's bytes go to the symbols on it):")
    for crate, size in by_crate.most_common(top):
        print(f"  {size // 1024:8d}  {crate}")


if __name__ == "__main__":
    main()
