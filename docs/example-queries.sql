-- Example queries over the marts: a place for an analyst to start.
-- Each query runs unchanged on DuckDB and PostgreSQL, and a test runs every one of them against
-- a warehouse (nsk_pipeline_tests/test_example_queries.py), so they stay correct.
-- Change the plan, year or indicator in the WHERE clause to ask about something else.

-- name: goal_status_for_year
-- Every goal of plan HP2024 for 2025: status, actual against target and how far the data reaches.
SELECT
    goal_id,
    spor,
    kind,
    status,
    status_tekst,
    actual,
    target,
    ROUND(CAST(100 * progress AS NUMERIC(18, 3)), 1) AS progress_pct,
    data_through,
    note
FROM marts.goal_attainment
WHERE plan_id = 'HP2024' AND year = 2025
ORDER BY goal_id;

-- name: indicator_trend
-- One indicator across the years (pupils taught about negative social control), NULL years left out: no data is not zero.
SELECT
    y.year,
    i.name,
    y.value,
    i.unit,
    y.data_through,
    y.value - LAG(y.value) OVER (ORDER BY y.year) AS change_from_previous_year
FROM marts.indicator_yearly AS y
JOIN marts.indicators AS i ON i.indicator_id = y.indicator_id
WHERE y.indicator_id = 'elever_nsk' AND y.value IS NOT NULL
ORDER BY y.year;

-- name: breakdown_by_school_type
-- Pupils taught by school type and year, with each type's share of the year's pupils in the breakdown.
SELECT
    b.year,
    b.category AS skoletype,
    b.value,
    ROUND(CAST(100 * b.value / NULLIF(SUM(b.value) OVER (PARTITION BY b.year), 0) AS NUMERIC(18, 3)), 1)
        AS share_pct
FROM marts.indicator_breakdown AS b
WHERE b.indicator_id = 'elever_nsk' AND b.dimension = 'skoletype'
ORDER BY b.year, b.category;

-- name: still_on_track
-- Numeric goals whose period is still open at the as-of date: the forecast and whether it meets the target (NULL: too little data to project).
SELECT
    plan_id,
    goal_id,
    year,
    status,
    actual,
    target,
    forecast,
    on_track,
    data_through,
    period_end
FROM marts.goal_attainment
WHERE kind = 'numeric'
  AND year = CAST(EXTRACT(YEAR FROM as_of) AS INTEGER)
  AND period_end > as_of
ORDER BY on_track NULLS LAST, goal_id;

-- name: quarterly_progress_against_annual_target
-- Inquiries to the counsellors year to date at each quarter's end, against the annual goal HP2024-V1.
SELECT
    q.year,
    q.quarter,
    q.value AS year_to_date,
    g.target AS annual_target,
    ROUND(CAST(100 * q.value / g.target AS NUMERIC(18, 3)), 1) AS pct_of_target
FROM marts.indicator_quarterly AS q
JOIN marts.goals AS g ON g.indicator_id = q.indicator_id
WHERE g.goal_id = 'HP2024-V1'
  AND q.year BETWEEN g.first_year AND g.last_year
  AND q.value IS NOT NULL
ORDER BY q.year, q.quarter;

-- name: report_table_for_year
-- The rows a report template needs, in Danish labels, from the report view (plan HP2024, 2024).
SELECT
    "Spor",
    "Mål-id",
    "Mål",
    "Status",
    "Resultat",
    "Måltal",
    "Opfyldelse (%)",
    "Data til og med",
    "Opgjort pr."
FROM marts.goal_attainment_report
WHERE "Plan-id" = 'HP2024' AND "År" = 2024
ORDER BY "Spor", "Mål-id";
