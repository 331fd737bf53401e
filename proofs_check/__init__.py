"""The harness: random restarts, the convex solve, the witnesses, their tolerances, reports and the CLI."""
