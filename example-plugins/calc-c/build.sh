#!/usr/bin/env bash
# Build this C plugin into a component: ./build.sh OUT.wasm (needs clang-19, the WASI sysroot and wit-bindgen 0.63;
# ./scripts/run.sh or ./scripts/test.sh installs them). The bindings are generated into target/, never committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/calc.wasm}"
wit_bindgen="${WIT_BINDGEN:-$root/.tools/cargo/bin/wit-bindgen}"
cc="${CC_WASM:-clang-19}"
[ -x "$wit_bindgen" ] || { echo "error: wit-bindgen not found at $wit_bindgen (run ./scripts/run.sh or ./scripts/test.sh to install it)" >&2; exit 1; }
command -v "$cc" >/dev/null || { echo "error: $cc not found (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)" >&2; exit 1; }
# rustup ships wasm-component-ld: clang links the core module with wasm-ld, then it wraps it into a component.
linker="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/wasm-component-ld"
[ -x "$linker" ] || { echo "error: wasm-component-ld not found at $linker (rustup update)" >&2; exit 1; }
gen="$root/target/wasm/c-bindings/calc"
rm -rf "$gen" && mkdir -p "$gen" "$(dirname "$out")"
log="$("$wit_bindgen" c --out-dir "$gen" --world plugin "$root/wit" 2>&1)" || { echo "$log" >&2; exit 1; }
# calc.c with every warning as an error; the generated bindings with the defaults.
"$cc" --target=wasm32-wasi -O2 -std=c11 -Wall -Wextra -Werror -I"$gen" -c "$here/calc.c" -o "$gen/calc.o"
"$cc" --target=wasm32-wasi -mexec-model=reactor -O2 -I"$gen" -fuse-ld="$linker" \
    -Wl,--wasi-adapter=reactor -Wl,--strip-all -o "$out" "$gen/calc.o" "$gen"/plugin.c "$gen"/*_component_type.o
