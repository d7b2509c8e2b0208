"""Is staging what a full refresh would stage now? The marts are published only when it is.

A run that materialises all sources stages each of them from every export, so its marts equal a
fresh full run's. A run that selects the marts without (some of) the sources — from the UI, or a
re-execution of a failed run a day later — would publish marts from staging that an earlier run
loaded, from other files or as of another date. Such a run is refused with the reason, rather
than publishing numbers no full refresh would give.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.sources.ingest import file_label, file_sha256, source_entries
from nsk_pipeline.sources.specs import SOURCES


def stale_sources(wh: Warehouse, raw_dir: Path, as_of: date, run_id: str) -> list[str]:
    """Why each source's staging differs from what this run would stage; empty when none does.

    A source staged by this run is up to date. Otherwise its file loads must have been made as of
    `as_of` and name exactly the files in its folder now, with the same content (sha256)."""
    problems = []
    loads = (wh.read_sql("SELECT source, file_name, sha256, status, as_of, run_id FROM meta.file_loads")
             if wh.has_table("meta", "file_loads") else pd.DataFrame(columns=["source", "file_name", "sha256",
                                                                               "status", "as_of", "run_id"]))
    for source in SOURCES:
        if not wh.has_table("staging", source):
            problems.append(f"staging/{source} has never been loaded")
            continue
        mine = loads[loads["source"] == source]
        if len(mine) and (mine["run_id"] == run_id).all():
            continue
        if len(mine) and {str(d)[:10] for d in mine["as_of"]} != {as_of.isoformat()}:
            problems.append(f"staging/{source} was loaded as of {str(mine['as_of'].iloc[0])[:10]}, "
                            f"this run is as of {as_of.isoformat()}")
            continue
        folder = raw_dir / source
        # Every entry has a file load, a skipped one too (a sub-folder added since is a change),
        # and one skipped then (unreadable, say) but readable now would be read by a refresh.
        entries = dict(source_entries(folder))
        files = {file_label(p): p for p in entries}  # as file loads name them
        skipped = {file_label(p) for p, why in entries.items() if why}
        if set(files) != set(mine["file_name"]) or skipped != set(mine.loc[mine["status"] == "skipped", "file_name"]):
            problems.append(f"staging/{source} was loaded from other files than {folder} holds now")
            continue
        for row in mine[mine["sha256"].notna()].itertuples():
            if file_sha256(files[row.file_name]) != row.sha256:
                problems.append(f"staging/{source}: {row.file_name} has changed since it was loaded")
                break
    return problems
