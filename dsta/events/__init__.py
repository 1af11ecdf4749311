"""Event contracts of every domain, one module per producing domain (`dsta.events.<domain>`).

Layer-neutral: it imports nothing but the kernel (importlinter.ini), so every layer may import it and a handler
subscribes by class even to a domain above its own (core to trading's risk violations). A typo in a
subscription then fails at import instead of never matching. Each domain's `events.py` re-exports its classes.
"""
