"""The `hocba` command. Exceptions become exit codes here, and only here."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import click

from pipelines.errors import ConfigError, HocbaError


def _fail(exc: HocbaError) -> None:
    click.secho(f"lỗi / error: {exc}", fg="red", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HocbaError as exc:
            _fail(exc)


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
def main(verbose: bool) -> None:
    """hocba: scanned paper học bạ → signed digital records, in bulk."""
    # Libraries (Dagster's storage migrations, PIL) only speak up on warnings.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipelines").setLevel(logging.DEBUG if verbose else logging.INFO)


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write roster.csv, truth/ and inbox/ into.")
@click.option("--schools", type=int, default=3, show_default=True)
@click.option("--students", type=int, default=20, show_default=True, help="Students per school.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--difficulty", type=click.Choice(["clean", "typical", "hard"]), default="typical",
              show_default=True)
@click.option("--no-defects", is_flag=True, help="Generate no file or roster defects.")
@click.option("--workers", type=int, default=0, help="Worker processes (0 = one per core).")
def synth(out_dir: Path, schools: int, students: int, seed: int, difficulty: str,
          no_defects: bool, workers: int) -> None:
    """Generate a synthetic district: roster, ground truth and scanned-looking books."""
    from pipelines.synth.defects import DefectRates
    from pipelines.synth.generate import generate_district

    summary = generate_district(
        out_dir, schools=schools, students=students, seed=seed, difficulty=difficulty,
        defects=DefectRates.none() if no_defects else None, workers=workers,
        progress=_progress("synth"),
    )
    click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))


@main.command()
@click.option("--schools", type=int, default=3, show_default=True)
@click.option("--students", type=int, default=12, show_default=True, help="Students per school.")
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--difficulty", type=click.Choice(["clean", "typical", "hard"]), default="typical",
              show_default=True)
@click.option("--fresh/--keep", default=True, show_default=True,
              help="Start from an empty HOCBA_HOME/demo folder.")
def demo(schools: int, students: int, seed: int, difficulty: str, fresh: bool) -> None:
    """Generate a sample district and run the pipeline on it through Dagster."""
    from pipelines.demo import run_demo

    run_demo(schools=schools, students=students, seed=seed, difficulty=difficulty, fresh=fresh,
             echo=click.echo)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("dagster_args", nargs=-1, type=click.UNPROCESSED)
def ui(dagster_args: tuple[str, ...]) -> None:
    """Start the Dagster UI and daemon (sensors, backfills) on this code location."""
    import os

    from pipelines.dagster_home import ensure_dagster_home
    from pipelines.settings import get_settings

    home = ensure_dagster_home(get_settings())
    click.echo(f"DAGSTER_HOME={home}")
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    # The dagster script of this environment, also when the venv is not activated.
    beside = Path(sys.executable).parent / "dagster"
    dagster = str(beside) if beside.exists() else shutil.which("dagster")
    if dagster is None:
        raise ConfigError("the `dagster` command is not installed in this environment: run `make setup`")
    os.execv(dagster, [dagster, "dev", "-w", str(workspace), *dagster_args])


def _progress(label: str):
    def report(done: int, total: int) -> None:
        step = max(1, total // 10)
        if done == total or done % step == 0:
            click.echo(f"  {label}: {done}/{total}", err=True)

    return report


if __name__ == "__main__":  # pragma: no cover
    main()
