"""Market mechanisms: the shared rules (:mod:`.rules`) of Guo & Jin's markets."""
