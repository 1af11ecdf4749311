"""Events the core domain publishes (versioned). `core.config_changed` arrives with the config service."""
