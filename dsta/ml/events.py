"""Events the ml domain publishes (versioned)."""
