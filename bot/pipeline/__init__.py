"""Where the stages are wired together: ingest (sources -> store), grouping (store -> topics)
and editions (store -> topics -> digest -> store), then feeds (store -> render). The CLI, the
scheduler and the web call these functions; they hold no state of their own.
"""

from bot.pipeline.editions import (
    build_edition,
    build_feeds,
    group_stored,
    grouping_options,
    local_date,
)
from bot.pipeline.ingest import (
    BATCH,
    MAX_WARNINGS,
    expand_paths,
    ingest,
    ingest_document,
    ingest_file,
    ingest_sources,
)
from bot.pipeline.search import index_search

__all__ = [
    "BATCH", "MAX_WARNINGS", "build_edition", "build_feeds", "expand_paths", "group_stored",
    "grouping_options", "index_search", "ingest", "ingest_document", "ingest_file", "ingest_sources", "local_date",
]
