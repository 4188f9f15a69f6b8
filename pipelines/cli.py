"""The `hocba` command. Exceptions become exit codes here, and only here (the codes: ``ExitCode``,
documented in docs/operations.md, "Exit codes")."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import click

from pipelines.errors import ConfigError, ExitCode, HocbaError
from pipelines.issue.errors import LedgerCorrupt, NotInLedger

# Each command imports what it runs inside its body: `hocba --help`, `hocba verify` and `hocba user` start in
# ~0.2 s, whereas Dagster, pandas, SQLAlchemy or the settings (pydantic) would add 0.7–6 s to every command.


def _fail(exc: HocbaError) -> None:
    click.secho(f"lỗi / error: {exc}", fg="red", err=True)
    sys.exit(int(exc.exit_code))


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
@click.option("--workers", type=int, default=0, help="Worker processes (0 = one per CPU available).")
@click.option("--hand-digits", type=click.Choice(["mnist", "font"]), default="mnist",
              show_default=True,
              help="Digits of handwritten values: real people's (MNIST, validate split) for most "
              "writers, or the handwriting font's for all.")
def synth(out_dir: Path, schools: int, students: int, seed: int, difficulty: str,
          no_defects: bool, workers: int, hand_digits: str) -> None:
    """Generate a synthetic district: roster, ground truth and scanned-looking books."""
    # Lazy: the generator brings pandas, OpenCV and the contracts (~3 s).
    from pipelines.synth.defects import DefectRates
    from pipelines.synth.generate import generate_district

    summary = generate_district(
        out_dir, schools=schools, students=students, seed=seed, difficulty=difficulty,
        defects=DefectRates.none() if no_defects else None, workers=workers,
        progress=_progress("synth"), hand_digits=hand_digits,  # type: ignore[arg-type]
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
@click.option("--simulate-review", is_flag=True,
              help="A SIMULATED reviewer answers the flagged fields of every batch but the last from "
              "the synthetic ground truth (labelled as such in the audit log); the last batch is left "
              "for you in the console.")
def demo(schools: int, students: int, seed: int, difficulty: str, fresh: bool, simulate_review: bool) -> None:
    """Generate a sample district and run the pipeline on it through Dagster."""
    # Lazy: the demo brings Dagster and every stage (~3–6 s).
    from pipelines.demo import run_demo

    run_demo(schools=schools, students=students, seed=seed, difficulty=difficulty, fresh=fresh,
             simulate_review=simulate_review, echo=click.echo)


@main.command("run")
@click.argument("batches", nargs=-1, metavar="[DISTRICT/SCHOOL/BATCH]...")
@click.option("--all", "all_batches", is_flag=True,
              help="Every batch in the inbox (each folder with a manifest.csv).")
@click.option("--accepted", is_flag=True,
              help="Run accepted_records_job (accepted records after reviews, then their signed "
              "records) instead of scan_batch_job.")
@click.option("--roster", is_flag=True,
              help="First run roster_job: import the roster export(s) in HOCBA_ROSTER_URL (needed "
              "before the first batch and after each new export).")
def run_batches(batches: tuple[str, ...], all_batches: bool, accepted: bool, roster: bool) -> None:
    """Run batches of the inbox through the pipeline now, in this process (a terminal, cron).

    Registers each batch as a partition of scan_batches if the inbox sensor has not, runs
    scan_batch_job for it through Dagster (the UI lists the runs), shows each step as it goes and
    prints a summary. Exit code 0 only when every run succeeded; otherwise the code of the error a
    step raised (docs/operations.md, "Exit codes"), check_failed (7) when a blocking check failed,
    else 1."""
    import time

    # Lazy: Dagster and the definitions (~6 s) only for `hocba run`.
    from pipelines.dagster_home import instance as get_instance
    from pipelines.definitions import build_defs
    from pipelines.progress import RunDisplay, run_shown, stage_logs_quiet, summary_lines
    from pipelines.runner import (
        read_inbox,
        register_batches,
        resolve_batches,
        run_partition,
        summarize_batches,
    )
    from pipelines.settings import get_settings

    if all_batches and batches:
        raise click.UsageError("give batch keys (DISTRICT/SCHOOL/BATCH …) or --all, not both")
    if not (all_batches or batches or roster):
        raise click.UsageError("give batch keys (DISTRICT/SCHOOL/BATCH …), --all or --roster")
    verbose = logging.getLogger("pipelines").isEnabledFor(logging.DEBUG)
    settings = get_settings()
    defs = build_defs()
    inbox = read_inbox(defs)
    for key, what in sorted(inbox.refused.items()):
        click.secho(f"cảnh báo / warning: inbox/{key} is {what}, not a folder: not followed", fg="yellow",
                    err=True)
    keys = list(inbox.ready) if all_batches else resolve_batches(inbox, list(batches))
    instance = get_instance(settings)
    display = RunDisplay(sys.stderr)
    log_level = "INFO" if verbose else "CRITICAL"
    t0 = time.perf_counter()
    outcomes = []
    job = "accepted_records_job" if accepted else "scan_batch_job"
    with stage_logs_quiet():
        if roster:
            display.batch(1, 1, "roster", "roster_job")
            outcomes.append(run_partition(defs, instance, "roster_job", None, log_level, display))
            display.outcome(outcomes[-1])
        if all_batches and not keys:
            click.echo(f"Hộp thư không có lô nào / the inbox holds no batch: {inbox.root}", err=True)
        if outcomes and not outcomes[-1].success and keys:
            click.echo("the batches are not run: roster_job failed", err=True)
            keys = []
        added = register_batches(instance, keys)
        if added:
            click.echo(f"registered {len(added)} new batch(es) as partitions of scan_batches", err=True)
        outcomes += run_shown(defs, instance, job, keys, display, log_level=log_level)
    summaries = summarize_batches(settings.storage_root, keys)
    click.echo("\n".join(summary_lines(job, outcomes, summaries, time.perf_counter() - t0)))
    failed = [o for o in outcomes if not o.success]
    if failed:
        click.secho(f"lỗi / error: {len(failed)} of {len(outcomes)} run(s) failed: "
                    + ", ".join(o.partition_key for o in failed)
                    + "; the steps' errors are above, the whole story in the Dagster UI (Runs)",
                    fg="red", err=True)
        sys.exit(int(_run_exit_code(failed[0])))


def _run_exit_code(outcome) -> ExitCode:
    """A failed run's exit code: the HocbaError a step raised, a blocking check, or ``other``."""
    classes: dict[str, type[HocbaError]] = {}
    todo: list[type[HocbaError]] = [HocbaError]
    while todo:
        cls = todo.pop()
        classes.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    for f in outcome.step_failures:
        if f.error_class in classes:
            return classes[f.error_class].exit_code
    return ExitCode.check_failed if outcome.blocking_failed else ExitCode.other


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("dagster_args", nargs=-1, type=click.UNPROCESSED)
def ui(dagster_args: tuple[str, ...]) -> None:
    """Start the Dagster UI and daemon (sensors, backfills) on this code location."""
    import os

    # Lazy: Dagster (~3 s) only for `hocba ui`.
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


@main.command()
@click.option("--host", default=None, help="Address to listen on [default: setting console_host].")
@click.option("--port", type=int, default=None, help="Port [default: setting console_port].")
@click.option("--https-only", is_flag=True,
              help="Session cookies only over HTTPS (behind a TLS-terminating proxy).")
def serve(host: str | None, port: int | None, https_only: bool) -> None:
    """Start the review console, where reviewers correct the flagged fields in a browser."""
    import uvicorn

    # Lazy: FastAPI and the console (~6 s) only for `hocba serve`.
    from pipelines.review.app import create_app
    from pipelines.settings import get_settings

    settings = get_settings()
    host = host or settings.console_host
    port = port if port is not None else settings.console_port
    app = create_app(https_only=https_only)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Bảng duyệt / review console: http://{shown}:{port}/")
    click.echo("Tài khoản / accounts: `hocba user add …`; dừng / stop: Ctrl+C", err=True)
    # Access logs carry method, path and status only: paths hold numeric ids, never field values.
    # X-Forwarded-For / -Proto believed from the proxies of setting forwarded_allow_ips only (the app
    # applies the same setting itself, for servers other than this one).
    uvicorn.run(app, host=host, port=port, proxy_headers=True,
                forwarded_allow_ips=settings.forwarded_allow_ips, server_header=False, log_level="info")


@main.group()
def user() -> None:
    """Accounts of the review console (reviewers, data teams, admins)."""


def _review_db(database_url: str | None):
    # Lazy: SQLAlchemy and the migrations (~3 s) only for commands that open the database.
    from pipelines.db import database

    return database(database_url)


_database_url = click.option(
    "--database-url", default=None, metavar="URL",
    help="SQLAlchemy URL of the console's database [default: setting database, SQLite in HOCBA_HOME].")
# The password comes from a hidden prompt (asked twice) or HOCBA_PASSWORD, for scripts; a value given
# with --password is visible to other users of the machine (ps, shell history).
_password = click.option(
    "--password", envvar="HOCBA_PASSWORD", prompt="Mật khẩu / password", hide_input=True,
    confirmation_prompt=True, show_envvar=True,
    help="Better left out: asked for at a prompt, or taken from HOCBA_PASSWORD.")


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["reviewer", "data_team", "admin"]), required=True)
@click.option("--scope", required=True, metavar="district:CODE|school:CODE|all",
              help="Items the account may see and review; only admins may have 'all'.")
@_password
@_database_url
def user_add(username: str, role: str, scope: str, password: str, database_url: str | None) -> None:
    """Create an account."""
    # Lazy: the review package loads SQLAlchemy (~4 s).
    from pipelines.review.auth import add_user

    u = add_user(_review_db(database_url), username, password, role, scope)
    click.echo(f"Đã tạo tài khoản #{u.id} ({u.role}, {scope.strip()}).")


@user.command("list")
@_database_url
def user_list(database_url: str | None) -> None:
    """List the accounts."""
    # Lazy: the review package loads SQLAlchemy (~4 s).
    from pipelines.review.auth import list_users

    users = list_users(_review_db(database_url))
    rows = [("id", "username", "role", "scope", "active", "created")]
    for u in users:
        scope = "all" if u.scope_kind == "all" else f"{u.scope_kind}:{u.scope_code}"
        rows.append((str(u.id), u.username, u.role, scope, "yes" if u.active else "no",
                     f"{u.created_at:%Y-%m-%d}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@user.command("passwd")
@click.argument("username")
@_password
@_database_url
def user_passwd(username: str, password: str, database_url: str | None) -> None:
    """Set an account's password."""
    # Lazy: the review package loads SQLAlchemy (~4 s).
    from pipelines.review.auth import set_password

    u = set_password(_review_db(database_url), username, password)
    click.echo(f"Đã đổi mật khẩu tài khoản #{u.id}.")


@user.command("deactivate")
@click.argument("username")
@_database_url
def user_deactivate(username: str, database_url: str | None) -> None:
    """Lock an account: it can no longer log in; its history stays."""
    # Lazy: the review package loads SQLAlchemy (~4 s).
    from pipelines.review.auth import deactivate

    u = deactivate(_review_db(database_url), username)
    click.echo(f"Đã khóa tài khoản #{u.id}.")


@main.group()
def pki() -> None:
    """Signing keys: a development CA and certificates (real records: a CA-issued token, PKCS#11)."""


@pki.command("init")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing CA (records signed with it stop verifying).")
@click.option("--add", is_flag=True, help="Add these schools' keys to the existing CA (others are kept).")
@click.option("--school-code", "school_codes", multiple=True,
              help="A school's code (its inbox folder, ma_truong); repeatable: one key pair per school "
              "[default: DEMO].")
@click.option("--school-name", "school_names", multiple=True,
              help="The school's name, in the order of --school-code [default: Trường <code>].")
@click.option("--principal-name", "principal_names", multiple=True,
              help="The principal's name, in the order of --school-code [default: Nguyễn Văn A].")
@click.option("--key-type", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True,
              help="RSA 2048 or EC P-256 (with --add: the CA's).")
def pki_init(directory: Path | None, force: bool, add: bool, school_codes: tuple[str, ...],
             school_names: tuple[str, ...], principal_names: tuple[str, ...], key_type: str) -> None:
    """Make a development CA and, per school code, a school seal and its principal's certificate
    [default DIR: setting pki_root]: DIR/<code>/school.p12 and principal.p12.

    The PKCS#12 files are encrypted with the setting pki_passphrase (HOCBA_PKI_PASSPHRASE)."""
    # Lazy: key generation and the settings (~0.9 s) only for `hocba pki init`.
    from pipelines.issue.pki import DEMO_SCHOOL, School, add_schools, init_pki
    from pipelines.settings import get_settings

    codes = school_codes or (DEMO_SCHOOL.code,)
    if len(school_names) > len(codes) or len(principal_names) > len(codes):
        raise ConfigError("pki init: more --school-name / --principal-name than --school-code")
    if add and force:
        raise ConfigError("pki init: --add keeps the CA, --force replaces it; give one")
    default_name = {DEMO_SCHOOL.code: DEMO_SCHOOL.name}
    schools = [School(code, school_names[i] if i < len(school_names) else default_name.get(code),
                      principal_names[i] if i < len(principal_names) else "Nguyễn Văn A")
               for i, code in enumerate(codes)]
    settings = get_settings()
    target = directory or settings.pki_root
    if add:
        made = add_schools(target, schools=schools, passphrase=settings.pki_passphrase)
    else:
        made = init_pki(target, schools=schools, passphrase=settings.pki_passphrase, force=force,
                        key_type=key_type)  # type: ignore[arg-type]
    click.echo(f"PKI phát triển / development PKI ({made['key_type'].upper()}): {made['dir']}")
    for c in made["certificates"]:
        role = c["role"] + (f" {c['school_code']}" if c.get("school_code") else "")
        click.echo(f"  {role:<9} {c['path']}\n"
                   f"            subject  {c['subject']}\n"
                   f"            sha256   {c['sha256']}\n"
                   f"            hiệu lực / valid {c['not_before'][:10]} → {c['not_after'][:10]}")
    click.echo(f"  khóa CA / CA key: {Path(made['dir']) / 'ca.key.pem'} (0600); <school_code>/school.p12, "
               f"<school_code>/principal.p12 (0600) for {', '.join(made['schools'])}")
    if settings.pki_passphrase == "hocba-dev":
        click.secho("  cảnh báo / warning: default passphrase; never sign real records with these keys",
                    fg="yellow", err=True)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--trust", "trust", multiple=True, type=click.Path(path_type=Path),
              help="CA certificate (PEM) to trust; repeatable [default: setting trust_roots].")
@click.option("--no-ledger", is_flag=True, help="Check signatures and schema only, not the issue ledger.")
@_database_url
def verify(files: tuple[Path, ...], as_json: bool, trust: tuple[Path, ...], no_ledger: bool,
           database_url: str | None) -> None:
    """Verify signed records (PDF or XML): signatures, trust, changes after signing, schema, ledger.

    Exit code 0 only when every file verifies and, with the ledger, is its record's current version;
    verify_failed (8) when one does not."""
    # Lazy: the verifier (~0.3 s) and the settings (~0.7 s) only for `hocba verify`.
    from pipelines.issue.verify import load_trust_roots, verify_file
    from pipelines.settings import get_settings

    if not logging.getLogger("pipelines").isEnabledFor(logging.DEBUG):
        logging.getLogger("pyhanko").setLevel(logging.ERROR)  # its tracebacks for an untrusted chain
    roots = list(trust) or get_settings().trust_root_paths
    load_trust_roots(roots)  # a missing trust root is a configuration error, not a failed file
    engine = None if no_ledger else _review_db(database_url)
    failed = 0
    for f in files:
        v = verify_file(f, trust_roots=roots, engine=engine)
        failed += not v.ok
        if as_json:
            click.echo(json.dumps(v.to_dict(), ensure_ascii=False))
        else:
            click.secho(v.line(), fg=None if v.ok else "red")
    if failed:
        sys.exit(int(ExitCode.verify_failed))


@main.group()
def ledger() -> None:
    """The issue ledger: every issued, superseded and revoked record version, hash-chained."""


@ledger.command("check")
@_database_url
def ledger_check(database_url: str | None) -> None:
    """Recompute the hash chain and the events; exit code 0 only when the ledger holds."""
    # Lazy: the ledger brings SQLAlchemy and pandas (~5 s).
    from pipelines.issue.ledger import check_chain

    r = check_chain(_review_db(database_url))
    if not r.ok:
        raise LedgerCorrupt(f"sổ cấp phát sai ở dòng #{r.first_bad_seq} / ledger broken at entry "
                            f"#{r.first_bad_seq}: {r.problem} ({r.entries} entries before it hold)")
    click.echo(f"OK  sổ cấp phát đúng / ledger holds: {r.entries} dòng / entries")
    if r.head:
        click.echo(f"    mã băm cuối / head hash: {r.head}")


@ledger.command("show")
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="The ledger rows as JSON lines.")
@_database_url
def ledger_show(record_id: str, as_json: bool, database_url: str | None) -> None:
    """A record's versions, their status and files, and its events (RECORD_ID, or a file's sha256)."""
    # Lazy: the ledger brings SQLAlchemy and pandas (~5 s).
    from pipelines.issue.ledger import STATUS_VI, find

    rows = find(_review_db(database_url), record_id)
    if not rows:
        raise NotInLedger(f"không có trong sổ cấp phát / not in the ledger: {record_id}")
    if as_json:
        for e in rows:
            d = {c: getattr(e, c) for c in (
                "seq", "event", "record_id", "version", "status", "content_sha256", "xml_sha256",
                "pdf_sha256", "xml_uri", "pdf_uri", "signer_certs", "issued_at", "supersedes", "reason",
                "batch_id", "replaces_batch_id", "recorded_at", "entry_hash")}
            click.echo(json.dumps(d, ensure_ascii=False, default=str))
        return
    latest = {e.version: e for e in rows}
    click.echo(rows[0].record_id)
    for e in rows:
        if e.event != "issue":
            continue
        status = latest[e.version].status
        click.echo(f"  v{e.version}  {STATUS_VI[status]} / {status}   cấp / issued "
                   f"{e.issued_at:%Y-%m-%d %H:%M:%S} UTC  (#{e.seq})")
        if e.batch_id:
            click.echo(f"      lô / batch {e.batch_id}"
                       + (f"  (thay lô / replaces {e.replaces_batch_id})" if e.replaces_batch_id else ""))
        click.echo(f"      xml {e.xml_uri}\n      pdf {e.pdf_uri}")
        for c in e.signer_certs:
            click.echo(f"      ký / signed: {c.get('role', '?')} {c.get('subject', '')} "
                       f"sha256 {c.get('sha256', '')}")
    click.echo("  sự kiện / events:")
    for e in rows:
        click.echo(f"    #{e.seq:<6} {e.recorded_at:%Y-%m-%d %H:%M:%S}  {e.event:<9} v{e.version}"
                   + (f"  {e.reason}" if e.reason else ""))


@ledger.command("revoke")
@click.argument("record_id")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@_database_url
def ledger_revoke(record_id: str, version: int, reason: str, database_url: str | None) -> None:
    """Revoke one version of a record (appended to the ledger; the files stay)."""
    # Lazy: the ledger brings SQLAlchemy and pandas (~5 s).
    from pipelines.issue.ledger import revoke

    e = revoke(_review_db(database_url), record_id, version, reason)
    click.echo(f"Đã thu hồi / revoked {e.record_id} v{e.version} (#{e.seq}).")


def _progress(label: str):
    def report(done: int, total: int) -> None:
        step = max(1, total // 10)
        if done == total or done % step == 0:
            click.echo(f"  {label}: {done}/{total}", err=True)

    return report


if __name__ == "__main__":  # pragma: no cover
    main()
