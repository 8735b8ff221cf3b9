"""Pure business rules: ``decide(state, command, now) -> events`` and ``evolve(state, event) -> state``.

No I/O, no clock reads, no Kafka here. These modules import only ``schemas`` and the
dependency-free error root ``taskforge.errors`` (their refusals are typed errors that
``api.errors`` maps to HTTP in one place).
"""
