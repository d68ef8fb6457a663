"""The confined child process that runs users' strategy code (see `child` and `confine`).

Nothing here is imported by the calling process except `protocol`; the parent side is
`strategy_management.confined_runner`.
"""
