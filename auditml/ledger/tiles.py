"""The C2SP tlog-tiles static layout of a ledger's tree (docs/FORMAT.md section 17.1).

https://c2sp.org/tlog-tiles serves a transparency log as immutable files: hash tiles
`tile/<L>/<N>[.p/<W>]` (256 consecutive hashes; a level-L hash is the root of a level-8L
subtree), entry bundles `tile/entries/<N>[.p/<W>]` (each entry a big-endian uint16 length
then its bytes) and the latest signed `checkpoint`. An entry here is a stored canonical
body, so its leaf hash is SHA-256(0x00 || body), as in the ledger itself.

`TileWriter` turns the stream of bodies into tile files for one tree size holding only the
current partial tile of each level (a few KiB per level). `tile_root` recomputes a tree's
root from the tiles, reading only the tiles it needs; `check_tiles` checks a whole tiles
directory against a signed root, naming the file that fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from auditml.errors import ConfigError, IntegrityError
from auditml.ledger import merkle

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
#: An entry bundle prefixes each entry with a big-endian uint16 length.
MAX_ENTRY_BYTES = 0xFFFF
TILE_DIR = "tile"
CHECKPOINT_FILE = "checkpoint"
ENTRIES = "entries"

#: Called with (relative path, file content) for each tile or bundle, in writing order.
Emit = Callable[[str, bytes], None]


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """Return `tile/<L>/<N>[.p/<W>]`; level "entries" gives an entry bundle path.

    <N> is written as zero-padded 3-digit path elements, all but the last prefixed with
    `x` (1234067 -> x001/x234/067); `.p/<W>` only for a partial tile (W < 256).
    """
    if index < 0 or not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"no tile has index {index} and width {width}")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if not index:
            break
    groups.reverse()
    number = "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])
    partial = f".p/{width}" if width < TILE_WIDTH else ""
    return f"{TILE_DIR}/{level}/{number}{partial}"


def tile_paths(size: int) -> Iterator[str]:
    """Every tile and entry bundle path of a tree of `size` leaves (none for size 0)."""
    level, span = 0, 1
    while size >= span:
        full, width = divmod(size // span, TILE_WIDTH)
        for index in range(full):
            yield tile_path(level, index)
            if level == 0:
                yield tile_path(ENTRIES, index)
        if width:
            yield tile_path(level, full, width)
            if level == 0:
                yield tile_path(ENTRIES, full, width)
        level, span = level + 1, span * TILE_WIDTH


def encode_bundle(entries: list[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length then its bytes."""
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def decode_bundle(data: bytes, name: str = "entry bundle") -> list[bytes]:
    """Split an entry bundle into its entries; IntegrityError if it is cut short."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise IntegrityError(f"{name}: cut short inside a length prefix at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + length > len(data):
            raise IntegrityError(f"{name}: entry {len(entries)} is cut short")
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return entries


class TileWriter:
    """Streams leaves into the tiles of a tree of `size` leaves; leaves past it are ignored.

    Keeps only the unfinished tile of each level and the unfinished entry bundle: a full
    tile is emitted at once and its root pushed into the level above. `finish()` emits the
    partial tiles (floor(size / 256**L) mod 256 hashes at level L; none when that is 0).
    """

    def __init__(self, size: int, emit: Emit) -> None:
        self.size = size
        self.count = 0
        self.emitted = 0
        self._emit = emit
        self._pending: list[list[bytes]] = []
        self._done: list[int] = []  # full tiles emitted, per level
        self._bundle: list[bytes] = []

    def add(self, seq: int, body: bytes) -> None:
        """Add the entry at seq (seqs come in order from 0). ConfigError if it is too long."""
        if seq >= self.size:
            return
        if len(body) > MAX_ENTRY_BYTES:
            raise ConfigError(
                f"seq {seq} is {len(body)} bytes, over the {MAX_ENTRY_BYTES} a tlog-tiles entry "
                "bundle can hold (uint16 length prefix); export without --tiles "
                "(nothing was written)"
            )
        self._bundle.append(body)
        self.count += 1
        self._push(0, merkle.hash_leaf(body))

    def _push(self, level: int, digest: bytes) -> None:
        if level == len(self._pending):
            self._pending.append([])
            self._done.append(0)
        tile = self._pending[level]
        tile.append(digest)
        if len(tile) < TILE_WIDTH:
            return
        index = self._done[level]
        self._write(level, index, tile)
        self._done[level] += 1
        self._pending[level] = []
        self._push(level + 1, merkle.root(tile))

    def _write(self, level: int, index: int, tile: list[bytes]) -> None:
        self._emit(tile_path(level, index, len(tile)), b"".join(tile))
        self.emitted += 1
        if level == 0:
            self._emit(tile_path(ENTRIES, index, len(tile)), encode_bundle(self._bundle))
            self._bundle = []
            self.emitted += 1

    def finish(self) -> int:
        """Emit the partial tiles; return the number of files emitted.

        IntegrityError if fewer than `size` entries were added (the ledger lost events).
        """
        if self.count != self.size:
            raise IntegrityError(
                f"the tiles are for size {self.size} but only {self.count} events were read",
                seq=self.count,
            )
        for level, tile in enumerate(self._pending):
            if tile:
                self._write(level, self._done[level], tile)
        return self.emitted


def read_tile(directory: Path, level: int, index: int, width: int = TILE_WIDTH) -> list[bytes]:
    """The hashes of one tile file; IntegrityError naming it if absent or not width*32 bytes."""
    name = tile_path(level, index, width)
    data = _read(directory, name)
    if len(data) != width * merkle.HASH_SIZE:
        raise IntegrityError(
            f"{name} is {len(data)} bytes, not {width} hashes ({width * merkle.HASH_SIZE} bytes)"
        )
    return [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]


def read_bundle(directory: Path, index: int, width: int = TILE_WIDTH) -> list[bytes]:
    """The entries of one entry bundle; IntegrityError naming it if malformed or miscounted."""
    name = tile_path(ENTRIES, index, width)
    entries = decode_bundle(_read(directory, name), name)
    if len(entries) != width:
        raise IntegrityError(f"{name} holds {len(entries)} entries, not {width}")
    return entries


def _read(directory: Path, name: str) -> bytes:
    try:
        return (directory / name).read_bytes()
    except OSError as exc:
        raise IntegrityError(f"cannot read {name}: {exc.strerror}") from exc


def _width(size: int, level: int, index: int) -> int:
    """The width of tile `index` at `level` in a tree of `size` leaves (0: no such tile)."""
    hashes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))


def tile_root(directory: Path, size: int) -> tuple[bytes, list[str]]:
    """Recompute the root of the tree of `size` leaves from its tiles.

    Reads only the tiles holding the tree's frontier: each perfect subtree of [0, size)
    at Merkle level h is 2**(h mod 8) consecutive hashes of one level-(h div 8) tile.
    Returns the root and the tile paths read.
    """
    read: dict[str, list[bytes]] = {}
    subtrees = []
    for height, index in merkle.CompactRange.subtrees_of(size):
        level, below = divmod(height, TILE_HEIGHT)
        first = index << below  # the subtree's first hash at tile level `level`
        number = first // TILE_WIDTH
        width = _width(size, level, number)
        name = tile_path(level, number, width)
        if name not in read:
            read[name] = read_tile(directory, level, number, width)
        offset = first % TILE_WIDTH
        subtrees.append(merkle.root(read[name][offset : offset + (1 << below)]))
    return merkle.fold_subtrees(subtrees), list(read)


def check_tiles(directory: Path, size: int, root: bytes, names: set[str]) -> int:
    """Check the tiles of a tree of `size` leaves against its signed `root`.

    `names` are the tile paths present: they must be exactly those of the tree. Then the
    root recomputed from the tiles must equal `root` (this authenticates every partial
    tile); each full tile must hash to its hash in the tile above (top down, so the tile
    named is the altered one); each entry bundle's entries must hash to its level-0 tile.
    Returns the number of files checked; raises IntegrityError naming the first bad file.
    """
    expected = list(tile_paths(size))
    for name in expected:
        if name not in names:
            raise IntegrityError(f"{name} is missing: the checkpoint of size {size} needs it")
    for name in sorted(names - set(expected)):
        raise IntegrityError(f"{name} is not a tile of the checkpoint's tree size {size}")
    computed, used = tile_root(directory, size)
    if computed != root:
        raise IntegrityError(
            f"{', '.join(used)}: the root computed from these tiles is not the root signed in "
            f"the checkpoint of size {size} (a tile was altered)"
        )
    levels = 0
    while size >> (TILE_HEIGHT * levels):
        levels += 1
    for level in range(levels - 1, 0, -1):  # each tile's hashes authenticate the level below
        index = 0
        while width := _width(size, level, index):
            for k, digest in enumerate(read_tile(directory, level, index, width)):
                child = index * TILE_WIDTH + k
                if merkle.root(read_tile(directory, level - 1, child)) != digest:
                    raise IntegrityError(
                        f"{tile_path(level - 1, child)}: its root is not hash {k} of "
                        f"{tile_path(level, index, width)} (the tile was altered)"
                    )
            index += 1
    index = 0
    while width := _width(size, 0, index):
        leaves = read_tile(directory, 0, index, width)
        for k, entry in enumerate(read_bundle(directory, index, width)):
            if merkle.hash_leaf(entry) != leaves[k]:
                raise IntegrityError(
                    f"{tile_path(ENTRIES, index, width)}: entry {index * TILE_WIDTH + k} does "
                    f"not hash to its leaf hash in {tile_path(0, index, width)} (the bundle was "
                    "altered)",
                    seq=index * TILE_WIDTH + k,
                )
        index += 1
    return len(expected)
