"""Builds a job type's component: ``python -m jobhost_plugin.build MODULE -o OUT.wasm``.

MODULE is the module (in the current directory, or ``--path``) that creates
the :class:`~jobhost_plugin.JobType`. Needs ``componentize-py`` (``pip install
componentize-py==0.25.1``) in this Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SDK_PARENT = Path(__file__).resolve().parent.parent
COMPONENTIZE_PY = "0.25.1"
SDK_WIT = Path(__file__).resolve().parent / "wit"


def default_wit() -> Path:
    """$JOBHOST_WIT, else ``[tool.jobhost] wit`` of ./pyproject.toml, else
    ``wit/`` of the jobhost checkout this SDK is in."""
    if os.environ.get("JOBHOST_WIT"):
        return Path(os.environ["JOBHOST_WIT"])
    project = Path("pyproject.toml")
    if project.is_file():
        try:
            import tomllib

            wit = tomllib.loads(project.read_text()).get("tool", {}).get("jobhost", {}).get("wit")
            if wit:
                return Path(wit)
        except (ImportError, ValueError):
            pass
    return SDK_PARENT.parent.parent.parent / "wit"


def build(module: str, out: Path, paths: list[Path], wit: Path) -> None:
    """Builds the component of ``module`` into ``out``; raises on failure."""
    try:
        import componentize_py  # noqa: F401
    except ImportError:
        raise SystemExit(
            f"componentize-py is not installed in {sys.executable}; run: "
            f"{sys.executable} -m pip install componentize-py=={COMPONENTIZE_PY}"
        ) from None
    if not (wit / "plugin.wit").is_file():
        raise SystemExit(f"no plugin.wit in {wit}; pass --wit DIR (the wit/ of a jobhost checkout)")
    with tempfile.TemporaryDirectory() as entry_dir, tempfile.TemporaryDirectory() as world:
        # The SDK's world: the contract from `wit` plus wasi:http (see wit/README.md).
        shutil.copytree(SDK_WIT, world, dirs_exist_ok=True)
        contract = Path(world, "deps", "jobhost-plugin")
        contract.mkdir()
        shutil.copy(wit / "plugin.wit", contract / "plugin.wit")
        # The component's entry: the job's module, then the exports bound to it.
        Path(entry_dir, "jobhost_entry.py").write_text(
            f"import {module}  # noqa: F401\nfrom jobhost_plugin.component import WitWorld  # noqa: F401\n"
        )
        cmd = [sys.executable, "-c", "import sys; from componentize_py import script; sys.exit(script())"]
        cmd += ["-d", world, "-w", "job-plugin-python", "componentize", "jobhost_entry"]
        for p in [Path(entry_dir), *paths, SDK_PARENT]:
            cmd += ["-p", str(p)]
        cmd += ["-o", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"componentize-py failed building {module}:\n{done.stdout}{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m jobhost_plugin.build", description=__doc__)
    parser.add_argument("module", help="the module that creates the JobType, e.g. `app`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .wasm file to write")
    parser.add_argument(
        "--path", type=Path, action="append", default=[], help="where the module is (default: .)"
    )
    parser.add_argument("--wit", type=Path, default=default_wit(), help="the jobhost wit/ directory")
    args = parser.parse_args()
    started = time.monotonic()
    build(args.module, args.output, args.path or [Path.cwd()], args.wit)
    size = args.output.stat().st_size
    print(f"built {args.output} ({size:,} bytes) in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
