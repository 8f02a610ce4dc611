"""Generated from the declaration of `can_share` in cli.py (typer's parameters): do not edit. Regenerate with
    python -c 'import cli; cli.write_can_share_args()'
tests/test_fast_entry.py fails when this file is stale. Read by engine/commands/entry.py."""

# (name, positional?, spellings, type: str | path | choice | flag, choices, repeatable?, default, envvar)
PARAMS: tuple[tuple, ...] = (
    ('source', True, ('source',), 'str', (), False, None, None),
    ('recipient', True, ('recipient',), 'str', (), False, None, None),
    ('data', True, ('data',), 'str', (), False, None, None),
    ('purpose', False, ('--purpose', '-p'), 'str', (), False, None, None),
    ('on', False, ('--on',), 'str', (), False, None, None),
    ('assume', False, ('--assume',), 'str', (), True, [], None),
    ('bundle', False, ('--bundle',), 'path', (), False, None, None),
    ('fmt', False, ('--format', '-f'), 'choice', ('text', 'json'), False, 'text', None),
    ('verbose', False, ('--verbose', '-v'), 'flag', (), False, False, None),
    ('audit_log', False, ('--audit-log',), 'path', (), False, None, None),
    ('audit_key', False, ('--audit-key',), 'path', (), False, None, 'LAWFUL_AUDIT_KEY'),
    ('given', False, ('--given',), 'str', (), True, [], None),
    ('express_only', False, ('--express-only',), 'flag', (), False, False, None),
    ('received_under', False, ('--received-under',), 'str', (), False, None, None),
    ('own_data', False, ('--own-data',), 'flag', (), False, False, None),
    ('held_for', False, ('--held-for',), 'str', (), False, None, None),
)
