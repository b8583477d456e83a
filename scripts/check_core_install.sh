#!/usr/bin/env bash
# The core install (no extras) imports h2mt, builds and routes with the hashing encoder, and a
# step that needs an extra says which one in one line.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/build/corevenv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q --force-reinstall --no-cache-dir . >/dev/null
cd build  # import the installed wheel, not the checkout
"$VENV/bin/python" - <<'PY'
import sys

import h2mt
from h2mt import H2MT, H2MTConfig, MissingExtraError, parse_text
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder

assert "torch" not in sys.modules
doc = parse_text("# Guide\n\n## Signals\n\nThe trap builtin handles signals.\n\n## Jobs\n\nUse fg and bg.\n", "guide.md", "markdown")
eng = H2MT.build([doc], H2MTConfig(), encoder=HashingEncoder(64), token_counter=SimpleTokenCounter())
r = eng.route("trap signals", budget=32)
assert r.kept and "trap" in r.kept[0].node.text, r
try:
    H2MT.build([doc])
except MissingExtraError as e:
    msg = str(e)
    assert "h2mt[hf]" in msg and "\n" not in msg, msg
    print("core install: routes; without [hf]:", msg)
else:
    raise SystemExit("a core-only build with the default encoder should name the [hf] extra")
PY
