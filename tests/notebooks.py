"""Execute the analysts' notebooks (notebooks/*.ipynb) headless, for the tests.

``run_notebook`` runs every cell with nbclient in a fresh ipykernel on the project's venv Python and
raises on the first cell that fails. The kernel inherits ``os.environ`` (set ``HOCBA_HOME`` before
calling) and starts in the notebook's folder, as Jupyter does. The executed notebook is returned,
never written back: the notebooks stay committed without outputs.

    .venv/bin/python -m tests.notebooks notebooks/accuracy.ipynb        # run one, print its outputs
    .venv/bin/python -m tests.notebooks --strip notebooks/*.ipynb       # drop outputs before a commit
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
KERNEL_NAME = "python3"


def venv_python() -> Path:
    """The project's venv interpreter: the one running this when it is a venv's (``.venv/bin/python``,
    ``uv run``), else the repository's ``.venv``. Not resolved: the venv's own path is what makes it
    the venv (a symlink to the base interpreter would run without the project's packages)."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.executable)
    return REPO / ".venv" / "bin" / "python"


def _kernel_manager(spec_dir: Path, python: Path) -> KernelManager:
    """A kernel manager whose only ``python3`` kernel is ipykernel on ``python``.

    Jupyter would otherwise pick the first ``python3`` spec on its search path (a user-wide one may
    point at another interpreter, and ipykernel's own spec says just ``python``, found on PATH)."""
    kdir = spec_dir / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (hocba venv)", "language": "python",
        "metadata": {"debugger": False},
    }))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir / "kernels")], ensure_native_kernel=False)
    # Local sockets in the temporary folder rather than TCP ports on 127.0.0.1.
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc",
                         ip=str(spec_dir / "ipc"))


def run_notebook(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Execute every cell of the notebook at ``path``; the executed notebook (not saved).

    ``timeout`` is seconds per cell. Raises ``nbclient.exceptions.CellExecutionError`` (with the
    cell's traceback) on the first cell that fails, and ``FileNotFoundError`` when the venv's
    Python is missing."""
    path = Path(path).resolve()
    python = venv_python()
    if not python.exists():
        raise FileNotFoundError(f"no venv Python at {python}: run `make env` (uv sync) first")
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="hocba-kernel-") as spec_dir:
        km = _kernel_manager(Path(spec_dir), python)
        client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=timeout, startup_timeout=180,
                                allow_errors=False, resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:  # nbclient leaves a kernel manager it was given running
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    return nb


def strip_outputs(path: Path) -> bool:
    """Drop a notebook's outputs and execution counts in place; whether anything changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        nbformat.write(nb, path)
    return changed


def _text(output: nbformat.NotebookNode) -> str:
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return data.get("text/plain", "[image]" if "image/png" in data else "")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--strip"]:
        for p in argv[1:]:
            print(f"{p}: {'stripped' if strip_outputs(Path(p)) else 'no outputs'}")
        return
    for p in argv:
        nb = run_notebook(Path(p))
        print(f"=== {p}: ran {sum(c.cell_type == 'code' for c in nb.cells)} code cells")
        for cell in nb.cells:
            for o in cell.get("outputs", []):
                print(_text(o))


if __name__ == "__main__":
    main(sys.argv[1:])
