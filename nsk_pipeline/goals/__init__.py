"""The goal registry and the goal-attainment mart."""
