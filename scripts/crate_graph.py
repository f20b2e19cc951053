#!/usr/bin/env python3
"""Check the host's crate graph against the rules in docs/architecture.md; exit 1 naming every broken rule.

Reads `cargo metadata --no-deps` of the host workspace and of each guest workspace (sdk, example-plugins,
tests/plugins), and the Rust sources of each host crate:

- each Coral crate depends (normal, dev or build) only on the Coral crates it is allowed to;
- nothing depends on the binary crate `coral-host`;
- `coral-adapters` and `coral-policy` neither depend on wasmtime nor name it in their sources;
- `bindgen!` appears only in `coral-model` (the one place the contract becomes Rust types);
- no guest package depends on a host crate.

`--self-test` runs the checker on made-up graphs with a forbidden arrow of each kind and fails unless each is
caught (so the check itself cannot silently pass everything).
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Which Coral crates each Coral crate may depend on. A crate not listed here is a new crate: it must be added
# (with its arrows) before it can land.
ALLOWED = {
    "coral-model": set(),
    "coral-policy": {"coral-model"},
    "coral-adapters": {"coral-model"},
    "coral-services": set(),
    "coral-ops": set(),
    "coral-runtime": {"coral-model", "coral-policy", "coral-services", "coral-ops"},
    "coral-host": {"coral-model", "coral-policy", "coral-adapters", "coral-services", "coral-ops", "coral-runtime"},
}
# Crates that must not touch wasmtime (they are plain Rust over the model's types).
NO_WASMTIME = {"coral-adapters", "coral-policy"}
# The one crate allowed to run `bindgen!`.
BINDGEN_HOME = "coral-model"
GUEST_WORKSPACES = ["sdk", "example-plugins", "tests/plugins"]


def metadata(manifest):
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--manifest-path", manifest],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def rust_sources(package):
    """Every .rs file under the package's folder (its src, tests, benches)."""
    top = os.path.dirname(package["manifest_path"])
    for dirpath, dirnames, filenames in os.walk(top):
        # Another package's folder (host/crates/* inside host) and build output are not this package's sources.
        dirnames[:] = [
            d for d in dirnames if d != "target" and not os.path.exists(os.path.join(dirpath, d, "Cargo.toml"))
        ]
        for name in filenames:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    yield path, f.read()


def check(host_packages, guest_packages, sources):
    """The broken rules, as messages. `sources(package)` yields (path, text) of its Rust files."""
    problems = []
    coral = {p["name"] for p in host_packages if p["name"].startswith("coral-")}
    for package in host_packages:
        name = package["name"]
        deps = {d["name"] for d in package["dependencies"]}
        if name not in ALLOWED:
            problems.append(f"{name}: a crate the architecture does not know; add it to ALLOWED in scripts/crate_graph.py")
            continue
        for dep in sorted(deps & (coral | set(ALLOWED))):
            if dep == "coral-host":
                problems.append(f"{name} depends on coral-host: nothing may depend on the binary crate")
            elif dep not in ALLOWED[name]:
                allowed = ", ".join(sorted(ALLOWED[name])) or "no Coral crate"
                problems.append(f"{name} depends on {dep}: it may depend on {allowed}")
        if name in NO_WASMTIME:
            for dep in sorted(d for d in deps if d.startswith("wasmtime")):
                problems.append(f"{name} depends on {dep}: it must not use wasmtime")
        for path, text in sources(package):
            rel = os.path.relpath(path, ROOT)
            if name in NO_WASMTIME and re.search(r"\bwasmtime(_[a-z_]+)?::", text):
                problems.append(f"{rel}: names wasmtime ({name} must not use it)")
            if name != BINDGEN_HOME and re.search(r"\bbindgen!\s*\(", text):
                problems.append(f"{rel}: a bindgen! outside {BINDGEN_HOME} (one bindgen! for the contract)")
    for package in guest_packages:
        for dep in sorted(d["name"] for d in package["dependencies"]):
            if dep in ALLOWED:
                problems.append(f"guest {package['name']} depends on the host crate {dep}")
    return problems


def self_test():
    def pkg(name, *deps):
        return {"name": name, "manifest_path": f"/x/{name}/Cargo.toml", "dependencies": [{"name": d} for d in deps]}

    good = [
        pkg("coral-model", "wasmtime", "serde"),
        pkg("coral-policy", "coral-model"),
        pkg("coral-adapters", "coral-model", "tokio"),
        pkg("coral-services", "rusqlite"),
        pkg("coral-ops", "axum"),
        pkg("coral-runtime", "coral-model", "coral-policy", "coral-services", "coral-ops", "wasmtime"),
        pkg("coral-host", "coral-model", "coral-policy", "coral-adapters", "coral-services", "coral-ops", "coral-runtime"),
    ]
    no_sources = lambda package: iter(())
    assert check(good, [pkg("coral-sdk", "wit-bindgen")], no_sources) == [], "the good graph must pass"

    def swap(name, *deps):
        return [pkg(name, *deps) if p["name"] == name else p for p in good]

    bad_graphs = {
        "adapters -> runtime": swap("coral-adapters", "coral-model", "coral-runtime"),
        "adapters -> policy": swap("coral-adapters", "coral-model", "coral-policy"),
        "policy -> adapters": swap("coral-policy", "coral-model", "coral-adapters"),
        "model -> ops": swap("coral-model", "coral-ops"),
        "services -> model": swap("coral-services", "coral-model"),
        "ops -> runtime": swap("coral-ops", "coral-runtime"),
        "runtime -> adapters": swap("coral-runtime", "coral-model", "coral-adapters"),
        "runtime -> host": swap("coral-runtime", "coral-model", "coral-host"),
        "policy -> wasmtime": swap("coral-policy", "coral-model", "wasmtime"),
        "an unknown crate": good + [pkg("coral-extra", "coral-model")],
    }
    for what, graph in bad_graphs.items():
        assert check(graph, [], no_sources), f"{what} was not caught"
    assert check(good, [pkg("coral-sdk", "coral-model")], no_sources), "a guest on a host crate was not caught"

    def sources_with(owner, text):
        return lambda package: iter([(f"/x/{owner}/src/lib.rs", text)] if package["name"] == owner else [])

    assert check(good, [], sources_with("coral-adapters", "use wasmtime::Engine;")), "wasmtime in adapters"
    assert check(good, [], sources_with("coral-runtime", "bindgen!({ path: \"wit\" });")), "a second bindgen!"
    assert not check(good, [], sources_with("coral-model", "bindgen!({ path: \"wit\" });")), "model's bindgen!"
    print(f"crate graph self-test: {len(bad_graphs) + 3} forbidden shapes caught, the allowed one passes")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    host = metadata(os.path.join(ROOT, "Cargo.toml"))["packages"]
    guests = []
    for ws in GUEST_WORKSPACES:
        guests += metadata(os.path.join(ROOT, ws, "Cargo.toml"))["packages"]
    problems = check(host, guests, rust_sources)
    for p in problems:
        print(f"crate graph: {p}", file=sys.stderr)
    if problems:
        print("crate graph: the rules are in docs/architecture.md", file=sys.stderr)
        return 1
    names = ", ".join(sorted(p["name"] for p in host))
    print(f"crate graph: ok ({names}; {len(guests)} guest packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
