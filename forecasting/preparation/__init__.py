"""From clean prices to training samples: execution modes and their targets, features, scaling, windows, splits."""
