"""Events the exchange domain publishes (versioned)."""
