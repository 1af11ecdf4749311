"""Events the trading domain publishes (versioned). Orders, fills and risk events arrive with issue 6."""
