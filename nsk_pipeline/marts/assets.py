"""The marts: built together and published in one transaction."""


import dagster as dg

from nsk_pipeline.core import tables
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.marts.build import build_marts, publish
from nsk_pipeline.marts.expectations import docs_index_for
from nsk_pipeline.sources.assets import staging_key
from nsk_pipeline.sources.specs import SOURCES
from nsk_pipeline.sources.uptodate import stale_sources

# The Dagster group (domain) of each mart; its grain is the table's own (core/tables.py).
GROUPS = {"indicator_yearly": "indicators", "indicator_quarterly": "indicators", "indicator_breakdown": "indicators",
          "indicators": "indicators", "goals": "goals", "goal_attainment": "goals"}


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


def _column_schema(name: str) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(c.name, getattr(c.type, "__visit_name__", "text"),
                                                  description=c.description) for c in tables.MARTS[name]])


MART_SPECS = [
    dg.AssetSpec(mart_key(name), group_name=group, description=tables.GRAINS[("marts", name)],
                 deps=[staging_key(s) for s in SOURCES], kinds={"sql"},
                 metadata={"dagster/column_schema": _column_schema(name), "grain": tables.GRAINS[("marts", name)]})
    for name, group in GROUPS.items()
]


@dg.multi_asset(specs=MART_SPECS, name="marts", can_subset=False)
def marts(context: dg.AssetExecutionContext, nsk: NskResource):
    """Compute every mart from the staged sources, in the warehouse, and publish them together."""
    stale = stale_sources(nsk.warehouse, nsk.raw_path, nsk.as_of_date, context.run_id)
    if stale:
        # Every refresh must equal a full refresh: marts from out-of-date staging are not published.
        raise dg.Failure(description="the marts were not published: staging is not what a full refresh would "
                                     "stage now; materialise the sources with the marts (`nsk materialize`, or the "
                                     "quarterly_refresh job). " + "; ".join(stale))
    registry = load_registry(nsk.goals_path)
    built = build_marts(nsk.warehouse, registry, nsk.as_of_date)
    publish(nsk.warehouse, built, context.run_id)
    status_counts = built["goal_attainment"]["status"].value_counts().to_dict()
    for name in GROUPS:
        yield dg.MaterializeResult(asset_key=mart_key(name), metadata={
            "dagster/row_count": len(built[name]), "as_of": nsk.as_of,
            "preview": dg.MetadataValue.md(built[name].head(8).to_markdown(index=False)),
            **({"status_counts": {k: int(v) for k, v in status_counts.items()}} if name == "goal_attainment" else {}),
            **({"data_docs": dg.MetadataValue.path(str(docs_index_for(nsk.reports_dir)))}
               if name in ("goal_attainment", "indicator_yearly") else {}),
        })
