"""A multi-node job's log, stored once: per-rank files plus the order their pieces came in.

Each rank's output is kept only in its own file (``tasks/0-head.log``,
``tasks/setup-1.log``, ...). The merged view that ``stix logs`` shows, every line
prefixed with its rank (``(worker1, rank=1, pid=..., ip=...) ``) and the driver's notes
between them, is built when it is read from two small files beside ``run.log``:

- ``run.log.src``: one JSON line per source (its file, relative to the log folder, and
  its line prefix); source 0 is ``run.log`` itself, which holds only the notes.
- ``run.log.idx``: the arrival order, 6-byte records (source, byte count). Consecutive
  pieces of one source extend one record in place, so a rank that writes a burst costs
  one record.

A source's bytes are written before the record that covers them, so a reader following
a live job never runs ahead of the data. Bytes at the end of ``run.log`` that no record
covers (a note appended after the driver died) come last. Stdlib only (ships in the agent).
"""

from __future__ import annotations

import json
import os
import struct
import threading
from typing import Any, BinaryIO, Dict, List, Optional, Tuple

INDEX = "run.log.idx"
SOURCES = "run.log.src"
NOTES = "run.log"
CHUNK = 65536
_REC = struct.Struct(">HI")
_MAX_RECORD = 2**32 - 1 - CHUNK


def is_merged(log_dir: str) -> bool:
    """Whether the job's log in ``log_dir`` is stored as per-rank files plus an index."""
    return os.path.exists(os.path.join(log_dir, INDEX))


class Writer:
    """The driver's side: append pieces of each source and record their order."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.lock = threading.Lock()
        # The index first: a reader that finds run.log without it reads a plain log.
        self.index = os.open(os.path.join(log_dir, INDEX), os.O_RDWR | os.O_CREAT, 0o644)
        self.end = os.lseek(self.index, 0, os.SEEK_END)
        self.end -= self.end % _REC.size  # a torn last record is overwritten
        self.last: Optional[Tuple[int, int]] = None  # (source, length) of the last record
        with open(os.path.join(log_dir, SOURCES), "ab"):
            pass
        self.files: List[BinaryIO] = [open(os.path.join(log_dir, NOTES), "ab", buffering=0)]  # noqa: SIM115
        self.count = _count_sources(log_dir)
        self.ids: Dict[int, int] = {}  # source id -> index in ``files``

    def add_source(self, path: str, prefix: bytes) -> int:
        """Register the file ``path`` (inside the log folder) whose lines get ``prefix``."""
        with self.lock:
            self.files.append(open(path, "ab", buffering=0))  # noqa: SIM115
            self.count += 1
            entry = {"id": self.count, "file": os.path.relpath(path, self.log_dir)}
            entry["prefix"] = prefix.decode("utf-8", "replace")
            with open(os.path.join(self.log_dir, SOURCES), "ab") as fh:
                fh.write(json.dumps(entry).encode() + b"\n")
            self.ids[self.count] = len(self.files) - 1
            return self.count

    def write(self, source: int, piece: bytes) -> None:
        """Append ``piece`` to ``source`` (0: a note in ``run.log``) and record its place."""
        if not piece:
            return
        with self.lock:
            fh = self.files[self.ids.get(source, 0)]
            fh.write(piece)
            if self.last is not None and self.last[0] == source and self.last[1] < _MAX_RECORD:
                length = self.last[1] + len(piece)
                os.pwrite(self.index, _REC.pack(source, length), self.end - _REC.size)
            else:
                length = len(piece)
                os.pwrite(self.index, _REC.pack(source, length), self.end)
                self.end += _REC.size
            self.last = (source, length)

    def close(self) -> None:
        for fh in self.files:
            fh.close()
        os.close(self.index)


def _count_sources(log_dir: str) -> int:
    try:
        with open(os.path.join(log_dir, SOURCES), "rb") as fh:
            return sum(1 for line in fh if line.endswith(b"\n"))
    except OSError:
        return 0


class _Source:
    def __init__(self, path: str, prefix: Optional[bytes]) -> None:
        self.path = path
        self.prefix = prefix
        self.fh: Optional[BinaryIO] = None
        self.pos = 0  # bytes of this source already shown (or skipped)
        self.at_start = True  # the next byte starts a line

    def read(self, n: int) -> bytes:
        if self.fh is None:
            self.fh = open(self.path, "rb")  # noqa: SIM115
        self.fh.seek(self.pos)
        data = self.fh.read(n)
        self.pos += len(data)
        return data

    def place(self, pos: int) -> None:
        """Continue from byte ``pos``; a line starts there when the byte before ends one."""
        self.pos = pos
        if pos == 0:
            self.at_start = True
            return
        with open(self.path, "rb") as fh:
            fh.seek(pos - 1)
            self.at_start = fh.read(1) == b"\n"


class Reader:
    """Builds the merged view from the stored files, a fixed buffer at a time."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.sources: Dict[int, _Source] = {0: _Source(os.path.join(log_dir, NOTES), None)}
        self.src_read = 0
        self.record = 0  # index of the record being shown
        self.shown = 0  # bytes of that record already shown

    def _load_sources(self) -> None:
        try:
            with open(os.path.join(self.log_dir, SOURCES), "rb") as fh:
                fh.seek(self.src_read)
                for line in fh:
                    if not line.endswith(b"\n"):
                        break
                    self.src_read += len(line)
                    entry = json.loads(line)
                    path = os.path.join(self.log_dir, entry["file"])
                    self.sources[int(entry["id"])] = _Source(path, entry["prefix"].encode())
        except OSError:
            pass

    def _records(self, start: int) -> Any:
        """(number, source, length) of every complete record from ``start`` on."""
        with open(os.path.join(self.log_dir, INDEX), "rb") as fh:
            fh.seek(start * _REC.size)
            number = start
            while True:
                data = fh.read(_REC.size * 4096)
                for at in range(0, len(data) - _REC.size + 1, _REC.size):
                    source, length = _REC.unpack_from(data, at)
                    yield number, source, length
                    number += 1
                if len(data) < _REC.size * 4096:
                    return

    def _emit(self, source: _Source, n: int, out: Any) -> int:
        """Show ``n`` more bytes of ``source`` (each line with its prefix); return how many."""
        done = 0
        while done < n:
            data = source.read(min(CHUNK, n - done))
            if not data:
                break
            done += len(data)
            prefix = source.prefix
            if prefix is None:
                out.write(data)
                continue
            if source.at_start:
                out.write(prefix)
            ends = data.endswith(b"\n")
            body = data[:-1] if ends else data
            out.write(body.replace(b"\n", b"\n" + prefix))
            if ends:
                out.write(b"\n")
            source.at_start = ends
        return done

    def pump(self, out: Any, final: bool = False) -> None:
        """Show everything recorded so far; with ``final``, also the notes no record covers."""
        self._load_sources()
        for number, source_id, length in self._records(self.record):
            if number > self.record:
                self.record, self.shown = number, 0
            source = self.sources.get(source_id)
            if source is None:  # its source line is not complete yet
                break
            if length > self.shown:
                self.shown += self._emit(source, length - self.shown, out)
                if self.shown < length:
                    break
        if final:
            notes = self.sources[0]
            try:
                size = os.path.getsize(notes.path)
            except OSError:
                size = 0
            self._emit(notes, size - notes.pos, out)
        out.flush()

    def seek_tail(self, lines: int) -> None:
        """Start the view where its last ``lines`` lines begin (reading backwards)."""
        self._load_sources()
        totals: Dict[int, int] = {}
        count = 0
        for _number, source_id, length in self._records(0):
            totals[source_id] = totals.get(source_id, 0) + length
            count += 1
        if lines <= 0:
            return  # the whole view
        found = 0
        last_byte = True  # a final newline ends the last line; it does not start one
        notes = self.sources[0]
        extra_start = totals.get(0, 0)
        hit = scan_back(notes.path, extra_start, _size(notes.path), lines, found, last_byte)
        if hit[0] is not None:
            self._place(count, 0, totals, None, 0)
            notes.place(hit[0])
            return
        found, last_byte = hit[1], hit[2]
        ends = dict(totals)
        for number, source_id, length in self._records_back(count):
            ends[source_id] -= length
            source = self.sources.get(source_id)
            if source is None:
                continue
            start = ends[source_id]
            hit = scan_back(source.path, start, start + length, lines, found, last_byte)
            if hit[0] is not None:
                self._place(number, hit[0] - start, ends, source_id, hit[0])
                return
            found, last_byte = hit[1], hit[2]
        self._place(0, 0, {}, None, 0)

    def _records_back(self, count: int) -> Any:
        """(number, source, length) of the first ``count`` records, last first."""
        with open(os.path.join(self.log_dir, INDEX), "rb") as fh:
            while count > 0:
                take = min(4096, count)
                count -= take
                fh.seek(count * _REC.size)
                data = fh.read(take * _REC.size)
                for j in range(take - 1, -1, -1):
                    source, length = _REC.unpack_from(data, j * _REC.size)
                    yield count + j, source, length

    def _place(
        self, record: int, shown: int, ends: Dict[int, int], at: Optional[int], pos: int
    ) -> None:
        self.record, self.shown = record, shown
        for source_id, source in self.sources.items():
            source.place(pos if source_id == at else ends.get(source_id, 0))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def scan_back(
    path: str, start: int, end: int, lines: int, found: int, last_byte: bool
) -> Tuple[Optional[int], int, bool]:
    """Count newlines backwards in ``path[start:end]`` until ``lines`` lines are found.

    :returns: (offset where the wanted line starts or None, newlines found, whether the
        next byte back would be the view's very last byte).
    """
    if end <= start:
        return None, found, last_byte
    with open(path, "rb") as fh:
        pos = end
        while pos > start:
            step = min(CHUNK, pos - start)
            pos -= step
            fh.seek(pos)
            data = fh.read(step)
            stop = len(data)
            if last_byte:
                stop -= 1  # skip the view's final byte: a newline there starts no line
                last_byte = False
            while True:
                i = data.rfind(b"\n", 0, stop)
                if i < 0:
                    break
                found += 1
                if found == lines:
                    return pos + i + 1, found, False
                stop = i
    return None, found, last_byte


def write_merged(log_dir: str, dest: str) -> None:
    """Write the whole merged view of ``log_dir`` to the file ``dest``."""
    with open(dest, "wb") as out:
        Reader(log_dir).pump(out, final=True)
