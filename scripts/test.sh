#!/usr/bin/env bash
# Set everything up and run the whole test suite (unit, property and integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The wheel must contain every subpackage (package-dir mappings are easy to get wrong).
rm -rf build/wheeltest && .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation . -w build/wheeltest
.venv/bin/python - <<'PY'
import glob, zipfile
names = zipfile.ZipFile(glob.glob("build/wheeltest/h2mt-*.whl")[0]).namelist()
for data in ("h2mt/licenses/NOTICE.md", "h2mt/licenses/Apache-2.0.txt",
             "h2mt/hmt/weights/smollm2-135m-instruct/hmt.safetensors",
             "h2mt/hmt/weights/qwen2.5-coder-0.5b-instruct/hmt.safetensors"):
    assert data in names, f"wheel lacks {data}"
for pkg in ("h2mt", "h2mt/index", "h2mt/index/parse", "h2mt/index/encoders", "h2mt/query", "h2mt/query/prefill",
            "h2mt/backends", "h2mt/eval", "h2mt/eval/datasets", "h2mt/eval/methods", "h2mt/hmt", "h2mt/hmt/train",
            "h2mt/cli", "h2mt/serve", "h2mt/train", "h2mt_integrations"):
    assert f"{pkg}/__init__.py" in names, f"wheel lacks {pkg}"
print("wheel contains all packages")
PY
# The core install (no extras) imports and routes; a step needing an extra names it.
bash scripts/check_core_install.sh
.venv/bin/ruff check core h2mt_integrations tests examples
.venv/bin/mypy core
.venv/bin/python -m pytest -q "$@"
