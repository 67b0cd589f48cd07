"""Qt item models: thin adapters from service results to views."""
