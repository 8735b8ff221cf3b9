"""The write side: pure deciders, and the faust-streaming app that owns aggregates."""
