"""The one reader of a learner's text: same bytes -> same characters, clear refusals."""
import pytest

from core import text_input as T


def test_builtin_is_the_shipped_file():
    assert T.learner_text(T.BUILTIN) == T.BUILTIN_CORPUS.read_bytes().decode("utf-8")


def test_paste_and_upload_give_the_same_text(tmp_path):
    raw = "\ufeffline one\r\nline two\r\n"
    path = tmp_path / "notes.txt"
    path.write_bytes(raw.encode("utf-8"))
    assert T.learner_text(T.UPLOAD, upload=str(path)) == "line one\nline two\n"
    assert T.learner_text(T.PASTE, pasted=raw) == "line one\nline two\n"


def test_not_utf8_says_where_and_what_to_do(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt is not UTF-8 text \(byte 0xe9 at position 3\)"):
        T.learner_text(T.UPLOAD, upload=str(path))


@pytest.mark.parametrize("source, kwargs, message", [
    (T.PASTE, {"pasted": "   \n"}, "The paste box is empty"),
    (T.UPLOAD, {"upload": None}, "No file uploaded yet"),
    ("elsewhere", {}, "Unknown text source"),
])
def test_empty_or_missing_input(source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        T.learner_text(source, **kwargs)


def test_limits_in_characters_and_bytes(tmp_path):
    with pytest.raises(ValueError, match="The pasted text has 11 characters; the limit is 10"):
        T.learner_text(T.PASTE, pasted="x" * 11, max_chars=10)
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 2048)
    with pytest.raises(ValueError, match="big.txt is 0.0 MB; the limit is 0 MB"):
        T.read_file(path, max_bytes=1024)
    assert T.read_file(path, max_bytes=4096) == "x" * 2048


# --- every command reads a learner's file through this reader -------------------------------------

def _commands(path, out):
    """The three commands that take a text file, each stopped by a bad file before any work."""
    return {
        "train --corpus": ["train", "--corpus", str(path), "--steps", "1", "--out", str(out / "minigpt")],
        "bpe FILE": ["bpe", str(path), "--vocab-size", "260", "--quiet"],
        "finetune --data": ["finetune", "--model", "pocket", "--data", str(path), "--steps", "1", "--out", str(out / "lora")],
    }


@pytest.mark.parametrize("bad", ["latin-1", "missing", "too big"])
def test_commands_refuse_a_bad_file_with_one_line_and_exit_code_2(tmp_path, capsys, bad):
    from core.__main__ import main

    path = tmp_path / "notes.txt"
    if bad == "latin-1":
        path.write_bytes("déjà vu\n".encode("latin-1") * 50)
    elif bad == "too big":
        path.write_bytes(b"x" * (T.MAX_FILE_BYTES + 1))
    with pytest.raises(ValueError) as reader:
        T.read_file(path)
    expected = f"error: {reader.value}\n"
    for name, argv in _commands(path, tmp_path).items():
        assert main(argv) == 2, name
        captured = capsys.readouterr()
        assert captured.err == expected, name  # the reader's own words, one line, no traceback
    assert not (tmp_path / "minigpt").exists() and not (tmp_path / "lora").exists()


def test_commands_read_the_cleaned_text(tmp_path, capsys):
    """A file with a byte-order mark and Windows line ends gives the same characters in every command."""
    from core.__main__ import main
    from core.finetune import data

    notes = tmp_path / "notes.txt"
    notes.write_bytes(("\ufeff" + "the cat sat on the mat\r\n" * 40).encode("utf-8"))
    assert main(["bpe", str(notes), "--vocab-size", "260", "--quiet"]) == 0
    assert f"({len('the cat sat on the mat' * 40) + 40:,} characters)" in capsys.readouterr().out
    jsonl = tmp_path / "data.jsonl"
    record = '{"instruction": "Say hi", "output": "hi"}'
    jsonl.write_bytes(("\ufeff" + record + "\r\n" + record + "\r\n").encode("utf-8"))
    dataset = data.read_jsonl(jsonl)  # the BOM no longer spoils the first line
    assert len(dataset.examples) == 2 and dataset.problems == []


def test_pasted_jsonl_is_bounded_like_a_file():
    from core.finetune import data

    with pytest.raises(ValueError, match=r"The data \(paste\) has 2,000,001 characters; the limit is 2,000,000"):
        data.parse_jsonl("x" * (T.MAX_CHARS + 1), source="paste")


def test_jsonl_records_skip_and_number_every_bad_line():
    def positive(row):
        if not isinstance(row, int) or row <= 0:
            raise ValueError("not a positive number")
        return row * 10

    text = "1\n\n{bad\n-3\n4\n"
    records, problems = T.jsonl_records(text, positive)
    assert records == [10, 40]
    assert problems[0].startswith("line 3: not valid JSON") and problems[1] == "line 4: not a positive number"
    assert T.problems_text([f"line {i}: x" for i in range(1, 14)], limit=2) == "line 1: x; line 2: x; and 11 more"
    with pytest.raises(ValueError, match="more than 1 records"):
        T.jsonl_records("1\n2\n", positive, max_records=1)
