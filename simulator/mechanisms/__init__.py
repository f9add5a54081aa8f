"""Market mechanisms of Guo & Jin: the shared rules (:mod:`.rules`), the engine's common part
(:mod:`.base`) and one module per mechanism (:mod:`.impact` §2, :mod:`.best_quote` §3/§4,
:mod:`.logit` §5), registered by kind in :mod:`simulator.engine`."""
