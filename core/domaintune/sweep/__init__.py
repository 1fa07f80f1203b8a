"""`tune sweep`: a search over run settings with Optuna (space, objective, study, outputs,
final comparison). Nothing here is imported by `tune --help`."""
