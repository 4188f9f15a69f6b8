"""manifest.csv read strictly against data_contracts/ingest/manifest.yaml."""

from __future__ import annotations

import pytest

from pipelines.errors import InputError
from pipelines.ingest.manifest import manifest_contract, parse_manifest


def parse(text: str, encoding: str = "utf-8"):
    return parse_manifest(text.encode(encoding), source="lo/manifest.csv")


def test_contract_loads() -> None:
    contract = manifest_contract()
    assert contract.required == ["file", "book_ref"]
    assert contract.names[:2] == ["file", "book_ref"]


def test_good_rows_with_bom_and_optional_columns() -> None:
    m = parse(
        "\ufefffile,book_ref,pages,first_page_no,cap_hoc,note\n"
        'a.pdf,HB-1,3,,thcs,"ghi chú, có dấu phẩy"\nb.png,HB-1,,4,,\n\n'
    )
    assert m.problems == ()
    a, b = m.rows
    assert (a.file, a.book_ref, a.pages, a.first_page_no, a.cap_hoc, a.note, a.line) == (
        "a.pdf",
        "HB-1",
        3,
        1,
        "THCS",
        "ghi chú, có dấu phẩy",
        2,
    )
    assert (b.pages, b.first_page_no, b.cap_hoc, b.note) == (None, 4, None, None)


def test_only_required_columns() -> None:
    (row,) = parse("book_ref,file\nHB,x.tif\n").rows
    assert (row.file, row.book_ref, row.first_page_no, row.pages) == ("x.tif", "HB", 1, None)


def test_semicolon_csv_from_vietnamese_excel() -> None:
    (row,) = parse("file;book_ref;pages\na.pdf;HB-1;2\n").rows
    assert (row.file, row.pages) == ("a.pdf", 2)


def test_unknown_column_names_file_column_and_expected() -> None:
    with pytest.raises(InputError) as err:
        parse("file,book_ref,so_trang\na.pdf,HB,3\n")
    msg = str(err.value)
    assert "lo/manifest.csv" in msg and "'so_trang'" in msg and "pages" in msg


def test_missing_required_column() -> None:
    with pytest.raises(InputError, match=r"lo/manifest\.csv: thiếu cột bắt buộc book_ref"):
        parse("file,pages\na.pdf,3\n")


def test_repeated_column() -> None:
    with pytest.raises(InputError, match="file xuất hiện nhiều lần"):
        parse("file,book_ref,file\na,b,c\n")


def test_not_utf8() -> None:
    with pytest.raises(InputError, match="không phải UTF-8"):
        parse("file,book_ref,note\na.pdf,HB,Lê Thánh Tông\n", encoding="cp1252")


def test_empty_file() -> None:
    with pytest.raises(InputError, match="tệp rỗng"):
        parse("")


def test_bad_rows_are_reported_without_stopping_the_others() -> None:
    m = parse(
        "file,book_ref,pages,first_page_no,cap_hoc\n"
        "a.pdf,HB-1,abc,0,THCS\n"  # 2: two bad optional values: row kept
        "b.pdf,,2,,\n"  # 3: no book_ref: dropped
        ",HB-3,,,\n"  # 4: no file: dropped
        "../c.pdf,HB-4,,,\n"  # 5: outside the batch folder: dropped
        "d.pdf,HB-5,2.0,,cap3\n"  # 6: "2.0" is 2; bad cap_hoc
        "a.pdf,HB-6,,,\n"  # 7: a.pdf again: dropped
        "sub\\e.pdf,HB-7,,,\n"  # 8: back-slashes normalized
    )
    assert [r.file for r in m.rows] == ["a.pdf", "d.pdf", "sub/e.pdf"]
    a, d, _ = m.rows
    assert (a.pages, a.first_page_no) == (None, 1)
    assert [(p.column, p.row_dropped) for p in a.problems] == [
        ("first_page_no", False),
        ("pages", False),
    ]
    assert (d.pages, d.cap_hoc) == (2, None)
    got = [(p.line, p.column, p.row_dropped) for p in m.problems]
    assert got == [
        (2, "first_page_no", False),
        (2, "pages", False),
        (3, "book_ref", True),
        (4, "file", True),
        (5, "file", True),
        (6, "cap_hoc", False),
        (7, "file", True),
    ]
    assert [p.file for p in m.problems] == [
        "a.pdf",
        "a.pdf",
        "b.pdf",
        None,
        None,
        "d.pdf",
        "a.pdf",
    ]
    assert str(m.problems[1]) == (
        "manifest.csv dòng 2, cột pages: 'abc' không phải số nguyên; cần một số nguyên ≥ 1"
    )


def test_too_many_cells() -> None:
    m = parse("file,book_ref,note\na.pdf,HB,ghi chú, không có ngoặc kép\nb.pdf,HB,\n")
    assert [r.file for r in m.rows] == ["b.pdf"]
    (p,) = m.problems
    assert (p.line, p.row_dropped) == (2, True) and "ngoặc kép" in p.message


def test_replaces_names_an_earlier_batch() -> None:
    m = parse(
        "file,book_ref,replaces\n"
        "a.pdf,HB-1,b001\n"
        "b.pdf,HB-2,760/79760403/b001\n"
        "c.pdf,HB-3,\n"
        "d.pdf,HB-4,760/b001\n"  # neither a folder name nor a full id: dropped, row kept
        "e.pdf,HB-5,../b001\n"
    )
    assert [(r.file, r.replaces) for r in m.rows] == [
        ("a.pdf", "b001"),
        ("b.pdf", "760/79760403/b001"),
        ("c.pdf", None),
        ("d.pdf", None),
        ("e.pdf", None),
    ]
    assert [(p.line, p.column, p.row_dropped) for p in m.problems] == [
        (5, "replaces", False),
        (6, "replaces", False),
    ]
    assert "tên thư mục lô cũ" in m.problems[0].message


def test_paths_outside_the_batch_folder_are_kept_for_quarantine() -> None:
    m = parse(
        "file,book_ref\n"
        "../x.pdf,HB-1\n"
        "/etc/passwd,HB-2\n"
        "C:\\scans\\y.pdf,\n"
        "..\\x.pdf,HB-3\n"  # the same path as line 2: one quarantine row
        "ok.pdf,HB-4\n"
    )
    assert [r.file for r in m.rows] == ["ok.pdf"]
    assert [(o.line, o.file, o.book_ref) for o in m.outside] == [
        (2, "../x.pdf", "HB-1"),
        (3, "/etc/passwd", "HB-2"),
        (4, "C:/scans/y.pdf", None),
    ]
    assert [(p.line, p.column, p.row_dropped) for p in m.problems] == [
        (2, "file", True),
        (3, "file", True),
        (4, "file", True),
        (4, "book_ref", True),
        (5, "file", True),
    ]
