"""The identities (external IDs and phones) already seen in a file, with the row that first gave each.

A file of a million rows holds two million identities; as Python strings in a dict they take some 200 MB. This
keeps them in flat arrays instead — about 40 bytes an identity — with exact answers: a hash only finds the
candidate, the stored bytes of the identity decide.
"""

from array import array

_EMPTY = -1
_FIRST_CAPACITY = 1 << 12


class SeenIdentities:
    """An insert-only map from identity (text) to the row number that first gave it, in compact storage.

    Open addressing over a table of slot numbers; each slot's hash, row number and the place of its bytes in one
    shared buffer are kept in arrays in the order identities were added.
    """

    def __init__(self) -> None:
        self._table = array("i", [_EMPTY]) * _FIRST_CAPACITY
        self._hashes = array("q")
        self._rows = array("i")
        self._starts = array("q", [0])
        self._bytes = bytearray()

    def __len__(self) -> int:
        return len(self._rows)

    def claim(self, identities: list[str], row_number: int) -> int | None:
        """The row that first gave one of ``identities``; when none has, they are all remembered as ``row_number``'s."""
        table = self._table
        free = []
        for identity in identities:
            encoded = identity.encode()
            hashed = hash(encoded)
            position = self._position(encoded, hashed)
            if table[position] != _EMPTY:
                return self._rows[table[position]]
            free.append((position, encoded, hashed))
        for position, encoded, hashed in free:
            if table[position] != _EMPTY:  # the row's other identity has just taken this place
                position = self._position(encoded, hashed)
                if table[position] != _EMPTY:  # the same identity twice in one row
                    continue
            table[position] = len(self._rows)
            self._hashes.append(hashed)
            self._rows.append(row_number)
            self._bytes += encoded
            self._starts.append(len(self._bytes))
        if 3 * len(self._rows) > 2 * len(table):
            self._grow()
        return None

    def _position(self, encoded: bytes, hashed: int) -> int:
        """The table position holding ``encoded``, or the empty one where it would go (linear probing)."""
        table, mask = self._table, len(self._table) - 1
        position = hashed & mask
        while (slot := table[position]) != _EMPTY:
            if self._hashes[slot] == hashed and self._bytes[self._starts[slot] : self._starts[slot + 1]] == encoded:
                return position
            position = (position + 1) & mask
        return position

    def _grow(self) -> None:
        table = array("i", [_EMPTY]) * (2 * len(self._table))
        mask = len(table) - 1
        for slot, hashed in enumerate(self._hashes):
            position = hashed & mask
            while table[position] != _EMPTY:
                position = (position + 1) & mask
            table[position] = slot
        self._table = table
