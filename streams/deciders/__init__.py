"""Pure business rules: ``decide(state, command, now) -> events`` and ``evolve(state, event) -> state``.

No I/O, no clock reads, no Kafka here; these modules import only ``schemas``.
"""
