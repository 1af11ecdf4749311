"""Built-in example strategies, each one teaching part of the SDK (dsta.sdk exports the same names they use)."""
