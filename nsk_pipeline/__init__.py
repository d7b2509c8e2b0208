"""nsk-pipeline: from raw exports to the goal-attainment table."""
