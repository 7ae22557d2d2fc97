"""Reads parquet files back the way trainers do and prints what was found as one JSON object.

Usage: read_parquet.py FILE [CACHE_DIR]. pyarrow gives the schema (as type strings), the row
groups and the rows; datasets.load_dataset("parquet", data_files=FILE) gives its features and
row count (null for a file without rows, which datasets cannot load). Timestamps are printed as ISO strings, anything else JSON cannot hold with str().
"""
import json
import sys

import datasets
import pyarrow.parquet as pq

path = sys.argv[1]
cache_dir = sys.argv[2] if len(sys.argv) > 2 else None

pf = pq.ParquetFile(path)
table = pf.read()
# datasets has no split to build from a file without rows ("corresponds to no data").
ds = datasets.load_dataset("parquet", data_files=path, split="train", cache_dir=cache_dir) if table.num_rows else None
print(json.dumps(
    {
        "num_rows": table.num_rows,
        "num_row_groups": pf.metadata.num_row_groups,
        "created_by": pf.metadata.created_by,
        "schema": {field.name: str(field.type) for field in table.schema},
        "rows": table.to_pylist(),
        "datasets": None if ds is None else {
            "num_rows": ds.num_rows,
            "column_names": ds.column_names,
            "features": {name: repr(feature) for name, feature in ds.features.items()},
            "first": ds[0],
        },
    },
    default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
))
