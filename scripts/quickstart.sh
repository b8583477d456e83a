#!/usr/bin/env bash
# Set everything up, index the Bash Reference Manual, and answer a question from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
H2MT=.venv/bin/h2mt
INDEX=${H2MT_INDEX:-bashref.h2mt}
[ -f "$INDEX" ] || $H2MT build /usr/share/doc/bash-doc/bashref.html -o "$INDEX"
$H2MT ask "$INDEX" "${1:-Which variable, if set to a number greater than 0, defines a maximum function nesting level?}" --budget 512
