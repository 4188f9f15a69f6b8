"""The inbox never follows a link or opens a special file (issue 14, part 1).

Every case is a real link, FIFO or socket on the local file system; the batch runs in
a thread with a deadline, because a FIFO opened for reading blocks forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.errors import InputError
from pipelines.ingest.accounting import files_in_batch, unaccounted_files
from pipelines.ingest.batch import IngestResult, ingest_batch
from pipelines.ingest.errors import NotRegularFile
from pipelines.ingest.inbox import open_file, probe, walk
from pipelines.ingest.manifest import read_manifest
from pipelines.storage import Storage
from tests.ingest.conftest import NOW
from tests.ingest.helpers import blank_page, png_bytes, write_manifest

KEY = "q1/s/b"
DEADLINE_S = 120


def _with_deadline(fn: Callable[[], object], fifos: list[Path]) -> object:
    """Run ``fn`` in a thread; fail (and unblock it) if it is still running at the deadline."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    if thread.is_alive():
        for fifo in fifos:  # a writer that opens and closes lets a blocked reader see EOF
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail(f"still running after {DEADLINE_S} s: blocked on a FIFO?")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def _ingest(inbox: Path, storage: Path, key: str = KEY) -> IngestResult:
    district, school, _ = key.split("/")
    return ingest_batch(Storage(str(inbox)), key, Storage(str(storage)), batch_id=key,
                        district=district, school=school, now=NOW)  # fmt: skip


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def linked(tmp_path: Path, monkeypatch) -> dict:
    """A batch folder with good files next to links, a FIFO, a socket and outside paths."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    secret_png = png_bytes(blank_page(seed=90))
    inner_png = png_bytes(blank_page(seed=91))
    (outside / "secret.png").write_bytes(secret_png)
    (outside / "dir" / "inner.png").write_bytes(inner_png)

    inbox = tmp_path / "inbox"
    folder = inbox / KEY
    (folder / "sub").mkdir(parents=True)
    good = png_bytes(blank_page(seed=1))
    (folder / "good.png").write_bytes(good)
    (folder / "sub" / "ok.png").write_bytes(png_bytes(blank_page(seed=2)))
    (folder / "link_png.png").symlink_to(outside / "secret.png")
    (folder / "link_outside.pdf").symlink_to("/etc/passwd")
    (folder / "link_inside.png").symlink_to("good.png")  # even a link inside the batch
    (folder / "dirlink").symlink_to(outside / "dir")
    (folder / "loop").symlink_to("..")
    (folder / "unlisted_link.png").symlink_to(outside / "secret.png")
    os.mkfifo(folder / "pipe.pdf")
    monkeypatch.chdir(folder)  # a socket path must be short: bind it relative
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock.png")
    write_manifest(folder, [
        {"file": "good.png", "book_ref": "B1"},
        {"file": "link_png.png", "book_ref": "B2"},
        {"file": "link_outside.pdf", "book_ref": "B3"},
        {"file": "link_inside.png", "book_ref": "B4"},
        {"file": "dirlink", "book_ref": "B5"},
        {"file": "dirlink/inner.png", "book_ref": "B6"},
        {"file": "pipe.pdf", "book_ref": "B7"},
        {"file": "sock.png", "book_ref": "B8"},
        {"file": "sub", "book_ref": "B9"},
        {"file": "../../../../outside/secret.png", "book_ref": "B10"},
        {"file": str(outside / "secret.png"), "book_ref": "B11"},
        {"file": "/etc/passwd", "book_ref": "B12"},
        {"file": "sub/ok.png", "book_ref": "B13"},
    ])  # fmt: skip
    yield {
        "inbox": inbox,
        "folder": folder,
        "fifos": [folder / "pipe.pdf"],
        "targets": {"secret": secret_png, "inner": inner_png, "passwd": Path("/etc/passwd").read_bytes()},
        "outside_abs": str(outside / "secret.png"),
    }
    sock.close()


EXPECTED = {
    "link_png.png": "not_a_regular_file",
    "link_outside.pdf": "not_a_regular_file",
    "link_inside.png": "not_a_regular_file",
    "dirlink": "not_a_regular_file",
    "dirlink/inner.png": "not_a_regular_file",
    "pipe.pdf": "not_a_regular_file",
    "sock.png": "not_a_regular_file",
    "sub": "not_a_regular_file",
    "../../../../outside/secret.png": "outside_batch_folder",
    "/etc/passwd": "outside_batch_folder",
    "loop": "not_a_regular_file",
    "unlisted_link.png": "not_a_regular_file",
}


def test_links_fifos_sockets_and_outside_paths_are_quarantined_unread(linked, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    result: IngestResult = _with_deadline(lambda: _ingest(linked["inbox"], storage), linked["fifos"])

    assert list(result.scan_manifest["file_path"]) == ["good.png", "sub/ok.png"]
    assert len(result.page_images) == 2
    got = dict(zip(result.file_quarantine["file_path"], result.file_quarantine["reason_code"], strict=True))
    assert got == {**EXPECTED, linked["outside_abs"]: "outside_batch_folder"}

    fq = {r["file_path"]: r for r in result.file_quarantine.to_dict("records")}
    for path in got:
        row = fq[path]
        assert pd.isna(row["file_sha256"]) and pd.isna(row["size_bytes"]), path
        assert row["quarantined_uri"] is None, path
    assert "symbolic link to '/etc/passwd'" in fq["link_outside.pdf"]["detail"]
    assert "FIFO" in fq["pipe.pdf"]["detail"] and "socket" in fq["sock.png"]["detail"]
    assert "its folder 'dirlink' is a symbolic link" in fq["dirlink/inner.png"]["detail"]
    assert "a folder" in fq["sub"]["detail"]
    assert "line 11" in fq["../../../../outside/secret.png"]["detail"]
    assert fq["/etc/passwd"]["book_ref"] == "B12" and fq["link_png.png"]["book_ref"] == "B2"

    # Nothing behind a link was read: no copy of a target's bytes, no hash of one anywhere.
    hashes = {name: _sha(data) for name, data in linked["targets"].items()}
    cells = {str(v) for name in ("scan_manifest", "file_quarantine", "page_images", "page_quarantine")
             for v in getattr(result, name).to_numpy().ravel()}  # fmt: skip
    for name, sha in hashes.items():
        assert not any(sha in c or sha[:16] in c for c in cells), name
    for stored in storage.rglob("*"):
        if stored.is_file():
            data = stored.read_bytes()
            assert _sha(data) not in hashes.values(), stored
            assert not any(sha.encode() in data for sha in hashes.values()), stored

    # Every entry of the folder is accounted for, links included.
    on_disk = files_in_batch(Storage(str(linked["inbox"])), KEY)
    assert unaccounted_files(on_disk, result.scan_manifest, result.file_quarantine) == {
        "missing": [], "duplicated": []}  # fmt: skip


def test_rerun_gives_the_same_rows(linked, tmp_path: Path) -> None:
    first = _with_deadline(lambda: _ingest(linked["inbox"], tmp_path / "st"), linked["fifos"])
    again = _with_deadline(lambda: _ingest(linked["inbox"], tmp_path / "st"), linked["fifos"])
    for name in ("scan_manifest", "file_quarantine", "page_images", "page_quarantine"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))


def test_manifest_that_is_a_link_is_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / KEY
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png_bytes(blank_page(seed=3)))
    write_manifest(tmp_path, [{"file": "a.png", "book_ref": "B"}])
    (folder / "manifest.csv").symlink_to(tmp_path / "manifest.csv")
    with pytest.raises(InputError, match=r"q1/s/b/manifest\.csv: manifest\.csv không phải một tệp thường"):
        _ingest(tmp_path / "inbox", tmp_path / "st")


def test_manifest_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / KEY
    folder.mkdir(parents=True)
    os.mkfifo(folder / "manifest.csv")
    with pytest.raises(InputError, match="FIFO"):
        _with_deadline(lambda: _ingest(tmp_path / "inbox", tmp_path / "st"), [folder / "manifest.csv"])


@pytest.mark.parametrize("level", ["batch", "school"])
def test_batch_folder_behind_a_link_is_refused(tmp_path: Path, level: str) -> None:
    real = tmp_path / "elsewhere" / "b"
    real.mkdir(parents=True)
    (real / "a.png").write_bytes(png_bytes(blank_page(seed=4)))
    write_manifest(real, [{"file": "a.png", "book_ref": "B"}])
    inbox = tmp_path / "inbox"
    if level == "batch":
        (inbox / "q1" / "s").mkdir(parents=True)
        (inbox / "q1" / "s" / "b").symlink_to(real)
    else:
        (inbox / "q1").mkdir(parents=True)
        (inbox / "q1" / "s").symlink_to(real.parent)
    linked = "q1/s/b" if level == "batch" else "q1/s"
    with pytest.raises(InputError, match=rf"{linked}: không phải một thư mục thật mà là một liên kết"):
        _ingest(inbox, tmp_path / "st")
    assert not (tmp_path / "st").exists()


def test_sensor_never_follows_a_linked_batch_folder(tmp_path: Path) -> None:
    from pipelines.ingest.sensors import new_batch_keys
    from pipelines.resources import InboxResource

    inbox = tmp_path / "inbox"
    for key in ("q1/s/b1", "q2/t/b1"):
        (inbox / key).mkdir(parents=True)
        write_manifest(inbox / key, [])
    (inbox / "q1" / "s" / "b2").symlink_to(inbox / "q1" / "s" / "b1")
    (inbox / "q1" / "s2").symlink_to(inbox / "q1" / "s")
    (inbox / "q3").symlink_to(inbox / "q1")
    os.mkfifo(inbox / "q1" / "s" / "b3")

    class Log:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def warning(self, msg: str) -> None:
            self.lines.append(msg)

    log = Log()
    got = new_batch_keys(InboxResource(root_url=str(inbox)), {"q2/t/b1"}, log)
    assert got == ["q1/s/b1"]
    assert sorted(line.split()[0] for line in log.lines) == [
        "inbox/q1/s/b2", "inbox/q1/s/b3", "inbox/q1/s2", "inbox/q3"]  # fmt: skip


def test_open_file_refuses_a_file_replaced_after_it_was_listed(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / KEY
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"first")
    inbox = Storage(str(tmp_path / "inbox"))
    (listed,) = walk(inbox, KEY)
    (tmp_path / "other").write_bytes(b"second")
    os.replace(tmp_path / "other", folder / "a.png")  # another file under the same name
    with pytest.raises(NotRegularFile, match="not the file that was listed"):
        open_file(inbox, f"{KEY}/a.png", identity=listed.identity)
    (folder / "a.png").unlink()
    (folder / "a.png").symlink_to(tmp_path / "other-target")
    with pytest.raises(NotRegularFile, match="symbolic link"):
        open_file(inbox, f"{KEY}/a.png")
    assert probe(inbox, f"{KEY}/a.png").kind == "symlink"


def test_memory_inbox_has_no_links_and_still_works(tmp_path: Path) -> None:
    """Object stores: every key is a regular file; the same functions work through fsspec."""
    import uuid

    import fsspec

    root = f"/{uuid.uuid4().hex}"
    mem = fsspec.filesystem("memory")
    with mem.open(f"{root}/inbox/{KEY}/manifest.csv", "wb") as fh:
        fh.write(b"file,book_ref\na.png,B\nsub,B2\n")
    with mem.open(f"{root}/inbox/{KEY}/a.png", "wb") as fh:
        fh.write(b"png")
    with mem.open(f"{root}/inbox/{KEY}/sub/x.png", "wb") as fh:
        fh.write(b"x")
    inbox = Storage(f"memory://{root}/inbox")
    assert [(e.path, e.kind) for e in walk(inbox, KEY)] == [
        ("a.png", "file"), ("manifest.csv", "file"), ("sub/x.png", "file")]  # fmt: skip
    assert probe(inbox, f"{KEY}/sub").kind == "directory"
    with open_file(inbox, f"{KEY}/a.png") as fh:
        assert fh.read() == b"png"
    with pytest.raises(NotRegularFile):
        open_file(inbox, f"{KEY}/sub")
    assert [r.file for r in read_manifest(inbox, KEY).rows] == ["a.png", "sub"]


def test_ingest_asset_with_links_in_the_batch(linked, tmp_path: Path) -> None:
    """Through Dagster: the step succeeds and every-file-accounted-for passes."""
    from pipelines.ingest.assets import ingest_scans
    from pipelines.partitions import scan_batches
    from pipelines.resources import (
        InboxResource,
        ParquetTableIOManager,
        RunSettingsResource,
        StorageResource,
    )
    from pipelines.table_io import read_table

    storage = str(tmp_path / "storage")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scan_batches.name, [KEY])

    def run():
        return dg.materialize(
            [ingest_scans],
            partition_key=KEY,
            instance=instance,
            resources={
                "storage": StorageResource(root_url=storage),
                "inbox": InboxResource(root_url=str(linked["inbox"])),
                "run_settings": RunSettingsResource(workers=1),
                "io_manager": ParquetTableIOManager(root_url=storage),
            },
        )

    result = _with_deadline(run, linked["fifos"])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"every_file_accounted_for": True, "every_page_accounted_for": True,
                      "page_images_stored": True}  # fmt: skip
    fq = read_table(Storage(storage), "file_quarantine", [KEY])
    assert set(fq["reason_code"]) == {"not_a_regular_file", "outside_batch_folder"}
