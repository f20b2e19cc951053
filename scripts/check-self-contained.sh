#!/usr/bin/env bash
# Check that the repository is self-contained: no file but documentation (*.md) may reference a path outside it
# (a sibling `shared` folder reached through one or more `../`, or an absolute path under `/work`). Prints
# `file:line: text` for each reference and exits 1 if there is one. Checks the files git tracks plus new ones not
# ignored (so a test added but not yet committed is caught too); without git, every file outside target/, .tools/
# and node_modules/. scripts/test.sh (what CI runs) calls it first.
source "$(dirname "$0")/lib.sh"

# The patterns are spelled so this script does not match itself: `(\.\./)+shared` is one or more `../` then
# `shared`; the second is the `work` folder at the root, i.e. a slash not inside a longer path or name, `work`, and
# a slash (the class `[k]` keeps the literal out of this file).
pattern='(\.\./)+shared|(^|[^[:alnum:]_.~$-])/wor[k]/'

files=()
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r -d '' f; do
        files+=("$f")
    done < <(git -C "$ROOT" ls-files -z --cached --others --exclude-standard)
else
    while IFS= read -r -d '' f; do
        files+=("${f#./}")
    done < <(find . \( -name target -o -name .tools -o -name node_modules -o -name .git \) -prune -o -type f -print0)
fi

checked=()
for f in "${files[@]}"; do
    case "$f" in
        *.md) continue ;;
    esac
    [ -f "$f" ] && checked+=("$f")
done

say "self-contained check: no path outside the repository in ${#checked[@]} files"
set +e
# -I skips binary files; -H names the file even when only one is checked.
found="$(grep -nHIE -- "$pattern" "${checked[@]}")"
status=$?
set -e
if [ "$status" -gt 1 ]; then
    echo "error: grep failed (status $status)" >&2
    exit 2
fi
if [ -n "$found" ]; then
    echo "error: these lines reference paths outside the repository (copy what they need into it instead):" >&2
    printf '%s\n' "$found" >&2
    exit 1
fi
