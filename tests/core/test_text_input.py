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
