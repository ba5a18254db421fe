"""The NONE format: no columns; any bytes are ignored on read and nothing is written."""
from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from streamsql.serde.base import Decoded, empty_table


class NoneSerde:
    def decode(self, payloads: Sequence[bytes | None]) -> Decoded:
        return Decoded(empty_table(len(payloads)))

    def encode(self, table: pa.Table) -> list[bytes | None]:
        return [None] * table.num_rows
