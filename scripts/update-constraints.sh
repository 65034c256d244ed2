#!/usr/bin/env bash
# Re-pin everything `make venv` and the images install: resolve the extras afresh in a throwaway venv
# (newest releases allowed by pyproject.toml, torch kept at its pin unless TORCH=... says otherwise)
# and write the result to constraints.txt. Then: review `git diff constraints.txt`, run `make test`,
# commit both together. `make constraints` runs this with the Makefile's EXTRAS and TORCH_INDEX.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${EXTRAS:?set EXTRAS, e.g. operator,trainer,dev (make constraints does)}
TORCH_INDEX=${TORCH_INDEX-}
TORCH=${TORCH:-$(sed -n 's/^torch==//p' constraints.txt)}
PYTHON=${PYTHON:-python3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip)
"${pip[@]}" install -q --upgrade pip
"${pip[@]}" install -q "torch==$TORCH" ${TORCH_INDEX:+--extra-index-url "$TORCH_INDEX"}
"${pip[@]}" install -q -e ".[$EXTRAS]"
{
    echo "# Every package \`make venv\` and the images install, pinned (pip install -c constraints.txt)."
    echo "# Regenerate with \`make constraints\` (scripts/update-constraints.sh), never by hand; torch is"
    echo "# pinned without its local tag (+cpu, +cu128) so that every build of that release satisfies it."
    "${pip[@]}" freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/' | LC_ALL=C sort -f
} > "$work/constraints.txt"
mv "$work/constraints.txt" constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pins (torch $TORCH)"
